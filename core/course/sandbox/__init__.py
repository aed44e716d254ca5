"""Grading with the student's code in its own process: the judge never runs a line of it.

``python -m core.grade`` (locally, in the feedback workflow and on Gradescope) builds
two kinds of folder from the instructor's copy and the submission (``trees``):

- the *judge* tree: the instructor's tests, grader and given code, in which every task
  region is replaced by a call into a child process (``remote``); pytest runs here and
  decides pass or fail;
- one *child* tree per task: only ``core/``, with that task's regions taken from the
  submission and every other region a stub. A child process (``child``) runs there,
  as an unprivileged user when the grader runs as root, and answers the judge's calls
  with values only (``wire``): tensors, arrays, numbers, strings, and handles to
  objects that stay in the child.

What the child returns is treated as the output of the student's program: it cannot
reach the tests, their expected values, the grader or the report.
"""
