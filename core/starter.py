"""``python -m core.starter OUT_DIR``: write the student starter, and the Gradescope autograder with
``--autograder`` (the generator: ``core.course.starter``)."""
from core.course.starter.__main__ import main

if __name__ == "__main__":
    raise SystemExit(main())
