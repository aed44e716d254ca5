"""The tutorial's tasks, in one table: every part of the course that names a task reads it here.

The grader's rows and markers (``core/course/grade.py``), the region markers' files (``core/course/task_regions.py``),
the default points (the starter, the autograder), the Gradescope results and the sandbox's child trees
all derive from ``TASKS``. The pytest markers are declared in ``setup.cfg`` and the task pages in the
student README and ``docs/tasks.md``; ``tests/core/course/test_tasks.py`` checks both against this table.
"""
from __future__ import annotations

import re
from typing import Dict, NamedTuple, Tuple

DEFAULT_TASK_POINTS = 25


class Task(NamedTuple):
    """One task of the tutorial.

    Attributes:
        number: ``N`` of ``# --- Task N begin ---``, of the pytest marker ``taskN`` and of the grader's row.
        title: the grader's and Gradescope's name of the task.
        files: the files whose ``Task N`` regions are the graded work (relative to the repository root).
        optional: what its optional part is, or ``""`` (marker ``taskN_optional``, reported without points).
        optionalFiles: files whose ``Task N`` regions belong to the optional part only.
        points: its points unless the instructor sets others.
    """

    number: int
    title: str
    files: Tuple[str, ...]
    optional: str = ""
    optionalFiles: Tuple[str, ...] = ()
    points: int = DEFAULT_TASK_POINTS

    @property
    def marker(self) -> str:
        return f"task{self.number}"

    @property
    def optionalMarker(self) -> str:
        """``taskN_optional``, or ``""`` for a task without an optional part."""
        return f"task{self.number}_optional" if self.optional else ""


TASKS: Tuple[Task, ...] = (
    Task(1, "augmentation", ("core/data/data_augmentation.py",),
         optional="the batched recipe for data.augDevice cuda", optionalFiles=("core/data/batch_augmentation.py",)),
    Task(2, "encoder", ("core/nn/networks/simclr.py",)),
    Task(3, "projection head", ("core/nn/networks/simclr.py",)),
    Task(4, "NT-Xent loss", ("core/nn/loss/nt_xent.py",),
         optional="efficiency (no [2B, 2B, D] tensor, built once per batch size) and the multi-GPU loss",
         optionalFiles=("core/nn/loss/nt_xent_distributed.py",)),
)
NUMBERS: Tuple[int, ...] = tuple(t.number for t in TASKS)
MARKERS: Tuple[str, ...] = tuple(t.marker for t in TASKS)
OPTIONAL_MARKERS: Tuple[str, ...] = tuple(t.optionalMarker for t in TASKS if t.optional)
DEFAULT_POINTS: Tuple[int, ...] = tuple(t.points for t in TASKS)
# Each file holding task regions, and the first task it belongs to.
TASK_FILES: Dict[str, int] = {}
for _task in TASKS:
    for _rel in _task.files + _task.optionalFiles:
        TASK_FILES.setdefault(_rel, _task.number)
MARKER_PATTERN = re.compile(r"^task(\d+)(_optional)?$")


def task(number: int) -> Task:
    """The task numbered ``number``.

    Raises:
        ValueError: no such task (names the numbers there are).
    """
    for entry in TASKS:
        if entry.number == number:
            return entry
    raise ValueError(f"there is no Task {number}; the tasks are {list(NUMBERS)}")


def number_of(marker: str) -> int:
    """``task3`` -> 3, ``task4_optional`` -> 4.

    Raises:
        ValueError: not a task marker.
    """
    found = MARKER_PATTERN.match(marker)
    if not found:
        raise ValueError(f"{marker!r} is not a task marker (taskN or taskN_optional)")
    return int(found[1])
