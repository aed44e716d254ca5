"""The student starter and the Gradescope autograder, generated from this repository.

``python -m core.starter OUT_DIR [--autograder ZIP]``: see ``core/starter/generate.py``
and ``core/starter/autograder.py``.
"""
from core.starter.generate import make_starter, stub_file

__all__ = ["make_starter", "stub_file"]
