"""core/course/tasks.py: the one table of tasks agrees with the markers pytest knows, the regions and the pages.

The starter ships this test: a student's pages and markers are checked against the same table.
"""
import re
import subprocess
import sys
from pathlib import Path

import pytest

from core.course.task_regions import find_regions
from core.course.tasks import MARKERS, NUMBERS, OPTIONAL_MARKERS, TASK_FILES, TASKS, number_of, task

REPO_ROOT = Path(__file__).resolve().parents[3]


def test_pytest_knows_exactly_the_task_markers_of_the_table():
    """Read by pytest itself (``--markers`` lists what setup.cfg declares)."""
    listed = subprocess.run([sys.executable, "-m", "pytest", "--markers", "-p", "no:cacheprovider"], cwd=REPO_ROOT,
                            capture_output=True, text=True, timeout=120).stdout
    declared = set(re.findall(r"^@pytest\.mark\.(task\d+(?:_optional)?):", listed, re.M))
    assert declared == set(MARKERS) | set(OPTIONAL_MARKERS), declared


def test_every_region_belongs_to_a_task_of_the_table_and_every_task_has_its_regions():
    found = {}
    for rel in TASK_FILES:
        for number, _, _ in find_regions((REPO_ROOT / rel).read_text().splitlines(keepends=True), rel):
            found.setdefault(number, set()).add(rel)
    assert set(found) == set(NUMBERS), found
    for entry in TASKS:
        assert set(entry.files) <= found[entry.number], (entry.number, entry.files)
        assert found[entry.number] <= set(entry.files) | set(entry.optionalFiles), (entry.number, found[entry.number])


def test_the_task_pages_describe_every_task_of_the_table():
    pages = (REPO_ROOT / "docs" / "tasks.md").read_text()
    headings = dict(re.findall(r"^## Task (\d+): (.*)$", pages, re.M))
    assert set(map(int, headings)) >= set(NUMBERS), headings
    for entry in TASKS:
        heading = headings[str(entry.number)]      # names its file, or says it shares the previous task's
        assert entry.files[0] in heading or "same file" in heading, (entry.number, heading)
    readme = REPO_ROOT / "core" / "course" / "starter" / "student_readme.md"
    if readme.is_file():                   # the solution repository; the starter's README is generated from it
        rows = dict(re.findall(r"^\| (\d+) \| `([^`]+)`", readme.read_text(), re.M))
        for entry in TASKS:
            assert rows.get(str(entry.number)) == entry.files[0], (entry.number, rows)


def test_lookups_name_what_is_allowed():
    assert task(3).title == "projection head" and number_of("task4_optional") == 4
    with pytest.raises(ValueError, match=r"there is no Task 9; the tasks are \[1, 2, 3, 4\]"):
        task(9)
    with pytest.raises(ValueError, match="not a task marker"):
        number_of("slow")
