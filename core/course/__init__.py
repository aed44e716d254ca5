"""The course built on the library: the table of tasks (``tasks``), their regions in the files
(``task_regions``), the grader (``grade``, run as ``python -m core.grade``), the process sandbox it grades
in (``sandbox``) and the starter and Gradescope autograder (``starter``, run as ``python -m core.starter``).

Nothing in the library (``core.data``, ``core.nn``, ``core.eval``) imports this package.
"""
