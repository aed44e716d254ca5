"""The grading run's folders: what the judge and each child get, and how submitted files are found."""
import ast

import pytest

from core.course.sandbox.trees import (REMOTE_CLASSES, REMOTE_REGIONS, build_trees, check_regions_inside,
                                       child_text, judge_text, locate, readable_by_all, submitted_regions)
from core.course.task_regions import TASK_FILES, find_regions
from tests.conftest import REPO_ROOT

LOSS = "core/nn/loss/nt_xent.py"
SIMCLR = "core/nn/networks/simclr.py"


def test_every_task_file_has_a_way_to_be_graded_and_every_judge_file_compiles():
    assert set(TASK_FILES) == set(REMOTE_CLASSES) | set(REMOTE_REGIONS)
    for rel in TASK_FILES:
        text = judge_text((REPO_ROOT / rel).read_text(), rel)
        ast.parse(text)
        lines = (REPO_ROOT / rel).read_text().splitlines(keepends=True)
        inside = {i for _, start, end in find_regions(lines, rel) for i in range(start, end)}
        given = {line for i, line in enumerate(lines) if i not in inside}
        solution = [lines[i] for i in sorted(inside) if len(lines[i].strip()) > 30
                    and not lines[i].strip().startswith("#") and lines[i] not in given]
        assert not any(line in text for line in solution), f"{rel}: solution lines reached the judge"


def test_a_region_outside_the_remote_classes_is_refused():
    text = "class A:\n    def f(self):\n        # --- Task 4 begin: x ---\n        pass\n        # --- Task 4 end ---\n"
    with pytest.raises(ValueError, match="outside the classes"):
        check_regions_inside(text, "x.py", ("B",))


@pytest.mark.pipeline   # reads the written regions of Tasks 2 and 3
def test_a_childs_file_has_its_tasks_regions_and_stubs_as_long_as_the_submitted_ones(tmp_path):
    text = (REPO_ROOT / SIMCLR).read_text()
    regions = find_regions(text.splitlines(keepends=True), SIMCLR)
    (tmp_path / SIMCLR).parent.mkdir(parents=True)
    (tmp_path / SIMCLR).write_text(text)
    submitted, problem = submitted_regions(tmp_path, SIMCLR, text)
    assert not problem
    child = child_text(text, SIMCLR, 3, submitted)
    assert "self.project = MLP(" in child and "self.encoder = ResNet(" not in child
    assert "not available while Task 3 is graded" in child
    assert find_regions(child.splitlines(keepends=True), SIMCLR) == regions          # same lines as the student's
    nul = [list(body) for body in submitted]
    nul[1][0] = nul[1][0].rstrip("\n") + "  # \x00\n"
    assert "NUL byte" in child_text(text, SIMCLR, 3, nul) and "\x00" not in child_text(text, SIMCLR, 3, nul)


def test_files_are_found_at_their_place_deeper_or_alone_never_through_a_link(tmp_path):
    sub = tmp_path / "submission"
    (sub / "repo-main" / "core/nn/loss").mkdir(parents=True)
    (sub / "repo-main" / LOSS).write_text("x")
    assert locate(sub, LOSS) == sub / "repo-main" / LOSS
    outside = tmp_path / "outside" / "core/nn/networks"
    outside.mkdir(parents=True)
    (outside / "simclr.py").write_text("y")
    (sub / "core").symlink_to(tmp_path / "outside" / "core", target_is_directory=True)
    assert locate(sub, SIMCLR) is None
    (sub / "simclr.py").symlink_to(outside / "simclr.py")
    assert locate(sub, SIMCLR) is None
    (sub / "simclr_copy").mkdir()
    (sub / "simclr_copy" / "simclr.py").write_text("z")
    assert locate(sub, SIMCLR) == sub / "simclr_copy" / "simclr.py"


def test_the_child_trees_hold_core_alone_readable_by_all(tmp_path):
    judge, children, notes = build_trees(REPO_ROOT, tmp_path / "empty", tmp_path / "j", tmp_path / "c", (4,))
    assert (judge / "tests/core/nn/loss/nt_xent_cases.json").is_file()
    assert sorted(p.name for p in children[4].iterdir()) == ["core"]
    assert not list(children[4].rglob("test_*")) and not list(children[4].rglob("*cases.json"))
    assert "was not found in the submission" in notes[4][0]
    readable_by_all(tmp_path / "c")
    assert all(p.stat().st_mode & 0o777 in (0o644, 0o755) for p in (tmp_path / "c").rglob("*"))


def test_the_judge_file_of_a_region_that_does_not_compile_still_compiles():
    text = (REPO_ROOT / LOSS).read_text()
    lines = text.splitlines(keepends=True)
    _, start, _ = find_regions(lines, LOSS)[0]
    lines.insert(start, "        loss = F.cross_entropy(logits, (\n")        # a parenthesis never closed
    ast.parse(judge_text("".join(lines), LOSS))
