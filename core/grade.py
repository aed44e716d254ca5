"""``python -m core.grade``: the grading report of the tasks, one row per task (the grader: ``core.course.grade``)."""
from core.course.grade import main

if __name__ == "__main__":
    raise SystemExit(main())
