"""The student starter and the Gradescope autograder, generated from this repository.

``python -m core.starter OUT_DIR [--autograder ZIP]``: see ``core/course/starter/generate.py``
and ``core/course/starter/autograder.py``.
"""
from core.course.starter.generate import make_starter, stub_file

__all__ = ["make_starter", "stub_file"]
