"""The folders of one grading run: the judge's tree and one child tree per task.

- ``judge``: the instructor's files the tests need (``JUDGE_PARTS``) with every task
  region replaced: classes holding regions (``REMOTE_CLASSES``) become stand-ins whose
  instances live in a child; regions of classes that stay in the judge
  (``REMOTE_REGIONS``) become a call that runs them in a child.
- ``child/N``: the instructor's ``core/`` with Task N's regions from the submission and
  every other region a stub that says so. Nothing else: no tests, no expected values,
  no grader data.

The submission is only ever read: each task file is found in it (at its place, one
folder deeper, or alone) without following links, and only the lines between its task
markers are taken.
"""
from __future__ import annotations

import ast
import os
import shutil
import stat
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from core.course.task_regions import BEGIN, find_regions
from core.course.tasks import NUMBERS, TASK_FILES

# Classes whose methods hold task regions: their instances live in the task's child.
REMOTE_CLASSES = {
    "core/data/data_augmentation.py": ("TorchvisionView", "AlbumentationsView"),
    "core/data/batch_augmentation.py": ("BatchImageTransforms",),
    "core/nn/loss/nt_xent.py": ("NTXent",),
    "core/nn/loss/nt_xent_distributed.py": ("DistributedNTXent",),
}
# Files whose regions run alone in the child (the class stays in the judge), and the method of ``self``
# the region runs within (as in the file: ``with self.added_defaults():``).
REMOTE_REGIONS = {"core/nn/networks/simclr.py": "added_defaults"}
JUDGE_PARTS = ("core", "train", "tests", "assets/experiments", "setup.cfg", "pyproject.toml")
# Compiled modules travel: a copy's unchanged files reuse them (Python checks each against its source's time and
# size, so a rewritten task file is compiled again).
SKIP = shutil.ignore_patterns(".pytest_cache")
MAX_FILE_BYTES = 2_000_000


def module_name(rel: str) -> str:
    return rel[:-3].replace("/", ".")


def locate(submission: Path, rel: str) -> Optional[Path]:
    """The submitted copy of ``rel``: at its place, under one top folder, or alone (when unique).

    Links are never followed (a linked folder anywhere on the way counts as absent), so a
    submission cannot point the grader at files outside it.
    """
    root = Path(os.path.abspath(submission))
    files: List[Path] = []
    for folder, dirs, names in os.walk(root, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not os.path.islink(os.path.join(folder, d)))
        for name in names:
            path = Path(folder) / name
            try:
                mode = os.lstat(path).st_mode
            except OSError:
                continue
            if stat.S_ISREG(mode):
                files.append(path)
    relative = {p.relative_to(root).as_posix(): p for p in files}
    if rel in relative:
        return relative[rel]
    nested = sorted((p for name, p in relative.items() if name.endswith("/" + rel)), key=lambda p: len(p.parts))
    if nested:
        return nested[0]
    named = [p for p in files if p.name == Path(rel).name]
    return named[0] if len(named) == 1 else None


def submitted_regions(submission: Path, rel: str, pristine: str) -> Tuple[Optional[List[List[str]]], str]:
    """The bodies of ``rel``'s regions in the submission, in file order, or None and why not."""
    found = locate(submission, rel)
    if found is None:
        return None, f"{rel} was not found in the submission, so its task regions are graded as not written"
    if found.stat().st_size > MAX_FILE_BYTES:
        return None, f"{rel} is larger than {MAX_FILE_BYTES} bytes and was not graded"
    lines = found.read_bytes().decode("utf-8", errors="replace").splitlines(keepends=True)
    try:
        regions = find_regions(lines, rel)
        wanted = [task for task, _, _ in find_regions(pristine.splitlines(keepends=True), rel)]
        if [task for task, _, _ in regions] != wanted:
            raise ValueError(f"{rel}: expected the task regions {wanted} (one pair of '# --- Task N begin/end ---' "
                             f"lines each), found {[task for task, _, _ in regions]}")
    except ValueError as err:
        return None, (f"{err}; its task regions are graded as not written. Keep the marker lines exactly as the "
                      "starter has them and write between them")
    return [lines[start:end] for _, start, end in regions], ""


def with_bodies(text: str, rel: str, bodies: Dict[int, List[str]]) -> str:
    """``text`` with region ``i``'s body replaced by ``bodies[i]`` (regions not named stay)."""
    lines = text.splitlines(keepends=True)
    out, cursor = [], 0
    for index, (_, start, end) in enumerate(find_regions(lines, rel)):
        if index in bodies:
            body = list(bodies[index])
            if body and not body[-1].endswith("\n"):
                body[-1] += "\n"
            out += lines[cursor:start] + body
            cursor = end
    return "".join(out + lines[cursor:])


def indent_of(lines: List[str], start: int) -> str:
    return BEGIN.match(lines[start - 1])["indent"]


def elsewhere_stub(indent: str, task: int, graded: int) -> List[str]:
    return [f"{indent}raise NotImplementedError(\"Task {task}: not available while Task {graded} is graded "
            "(each task runs in a process of its own)\")\n"]


def child_text(pristine: str, rel: str, task: int, submitted: Optional[List[List[str]]]) -> str:
    """The file for Task ``task``'s child: its regions from the submission, the others stubs."""
    lines = pristine.splitlines(keepends=True)
    bodies = {}
    for index, (regionTask, start, _) in enumerate(find_regions(lines, rel)):
        if regionTask == task and submitted is not None:
            body = submitted[index]
            if any("\x00" in line for line in body):
                body = [f"{indent_of(lines, start)}raise SyntaxError('Task {task}: your region holds a NUL "
                        "byte (\\\\x00): remove it')\n"]
            bodies[index] = body
        elif regionTask != task:
            stub = elsewhere_stub(indent_of(lines, start), regionTask, task)
            # as long as the submitted body: the student's line numbers stay right in messages
            bodies[index] = stub + ["\n"] * max(0, len(submitted[index]) - len(stub) if submitted else 0)
    return with_bodies(pristine, rel, bodies)


def judge_text(pristine: str, rel: str) -> str:
    """The file for the judge: no student line; regions replaced by calls into a child."""
    lines = pristine.splitlines(keepends=True)
    regions = find_regions(lines, rel)
    if rel in REMOTE_REGIONS:
        context = REMOTE_REGIONS[rel]
        bodies = {index: [f"{indent_of(lines, start)}__import__('core.course.sandbox.remote', fromlist=['run_region'])"
                          f".run_region(self, {rel!r}, {index}, {task}, {context!r})\n"]
                  for index, (task, start, _) in enumerate(regions)}
        return with_bodies(pristine, rel, bodies)
    classes = REMOTE_CLASSES.get(rel)
    if classes is None:
        raise ValueError(f"{rel} holds task regions but core/course/sandbox/trees.py says nothing of how to grade it "
                         "(add it to REMOTE_CLASSES or REMOTE_REGIONS)")
    bodies = {index: [f"{indent_of(lines, start)}raise RuntimeError('the judge never runs a task region')\n"]
              for index, (_, start, _) in enumerate(regions)}
    stubbed = with_bodies(pristine, rel, bodies)
    check_regions_inside(stubbed, rel, classes)          # (the student's own regions may not compile)
    task = TASK_FILES[rel]
    footer = ["\n\n# The grader's judge: instances of these classes live in Task "
              f"{task}'s child process (core/course/sandbox).\n",
              "from core.course.sandbox.remote import remote_class as _remote_class  # noqa: E402\n"]
    footer += [f"{name} = _remote_class({name}, {task})\n" for name in classes]
    return stubbed + "".join(footer)


def check_regions_inside(text: str, rel: str, classes: Tuple[str, ...]) -> None:
    """Every region of ``rel`` lies inside one of ``classes`` (else the judge would run student code)."""
    spans = [(node.lineno, node.end_lineno) for node in ast.parse(text).body
             if isinstance(node, ast.ClassDef) and node.name in classes]
    for task, start, end in find_regions(text.splitlines(keepends=True), rel):
        if not any(first <= start <= last for first, last in spans):
            raise ValueError(f"{rel}: the Task {task} region at line {start} is outside the classes {list(classes)} "
                             "that core/course/sandbox/trees.py runs in a child")


def copy_part(source: Path, target: Path) -> None:
    if source.is_dir():
        shutil.copytree(source, target, ignore=SKIP, symlinks=False)
    elif source.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)


def readable_by_all(root: Path) -> None:
    """Folders 0755, files 0644: the child's user reads its tree and writes nothing in it."""
    root.chmod(0o755)
    for folder, dirs, files in os.walk(root):
        for name in dirs:
            os.chmod(os.path.join(folder, name), 0o755)
        for name in files:
            os.chmod(os.path.join(folder, name), 0o644)


def build_trees(pristine: Path, submission: Path, judgeBase: Path, childBase: Path,
                tasks: Tuple[int, ...] = NUMBERS) -> Tuple[Path, Dict[int, Path], Dict[int, List[str]]]:
    """Write the judge tree under ``judgeBase`` and the child trees under ``childBase``.

    Returns:
        The judge tree, ``{task: child tree}`` and notes per task (missing files, broken markers).
    """
    judge = judgeBase / "judge"
    for part in JUDGE_PARTS:
        copy_part(pristine / part, judge / part)
    notes: Dict[int, List[str]] = {}
    texts, submitted = {}, {}
    for rel in TASK_FILES:
        texts[rel] = (pristine / rel).read_text()
        submitted[rel], problem = submitted_regions(submission, rel, texts[rel])
        if problem:
            for task in sorted({t for t, _, _ in find_regions(texts[rel].splitlines(keepends=True), rel)}):
                notes.setdefault(task, []).append(problem)
        (judge / rel).write_text(judge_text(texts[rel], rel))
    children = {}
    for task in tasks:
        tree = childBase / f"task{task}"
        copy_part(pristine / "core", tree / "core")
        for rel in TASK_FILES:
            (tree / rel).write_text(child_text(texts[rel], rel, task, submitted[rel]))
        children[task] = tree
    return judge, children, notes
