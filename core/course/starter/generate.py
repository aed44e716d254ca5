"""Write the student starter: copy the repository, replace each task region by a stub.

A task region sits between two comment lines in the solution (``core/course/task_regions.py``)::

    # --- Task 2 begin: the encoder, x [B, C, H, W] -> h [B, latentChNo] ---
    ...solution...
    # --- Task 2 end ---

In the starter the markers stay (students see where to write) and the lines
between them become the hints of ``core/course/starter/hints.py`` and a
``raise NotImplementedError("Task N: ...")``, which the tests turn into
"Task N not implemented yet: ...". The starter also gets the student README
(linking the task pages, ``docs/tasks.md``), the points file the grader reads
(``tests/grading.json``) and a GitHub Actions workflow that runs the grader on
every push as feedback.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from core.course.grade import GRADING_FILE, check_points
from core.course.starter.hints import HINTS
from core.course.task_regions import BEGIN, find_regions
from core.course.tasks import DEFAULT_POINTS, TASK_FILES, TASKS

REPO_ROOT = Path(__file__).resolve().parents[3]
# Never copied: version control, caches, environments, run outputs.
SKIP_PARTS = {".git", "__pycache__", ".pytest_cache", ".venv", ".venv-ci", "venv", ".gl", ".whl"}
SKIP_PREFIXES = ("assets/logs", "assets/checkpoints", "assets/datasets",
                 # the generator and its tests are the instructor's, not the student's
                 "core/course/starter/", "core/starter.py", "tests/core/course/starter/", "tests/test_docs.py",
                 # the project's own lint rules and module homes are checked in the project (the plugin travels)
                 "tests/test_lint_rules.py", "tests/test_one_home.py",
                 # the benchmarks hold working recipes and losses (reference implementations to time)
                 "benchmarks/", "tests/benchmarks/", ".ci/",
                 # pages for instructors and practitioners; the task pages (docs/tasks.md) do travel
                 "docs/")
SHIPPED_DOCS = ("docs/tasks.md",)
STUDENT_README = Path(__file__).with_name("student_readme.md")
FEEDBACK_WORKFLOW = Path(__file__).with_name("feedback.yml")


def stub_lines(relPath: str, index: int, indent: str) -> List[str]:
    """The hint comments and the raise that replace region ``index`` of ``relPath``."""
    instruction, comments = HINTS[(relPath, index)]
    task = instruction.split(":")[0].split(" (")[0]
    lines = [f"{indent}# TODO({task}): {comments[0]}\n"]
    lines += [f"{indent}# {text}\n" for text in comments[1:]]
    lines.append(f"{indent}raise NotImplementedError(\n")
    lines.append(f'{indent}    "{instruction} - see docs/tasks.md, {task}")\n')
    return lines


def stub_file(text: str, relPath: str) -> str:
    """``text`` with every task region replaced by its stub."""
    lines = text.splitlines(keepends=True)
    out, cursor = [], 0
    for index, (_, start, end) in enumerate(find_regions(lines, relPath)):
        indent = BEGIN.match(lines[start - 1])["indent"]
        out += lines[cursor:start] + stub_lines(relPath, index, indent)
        cursor = end
    return "".join(out + lines[cursor:])


def repository_files(root: Path) -> List[str]:
    """The files git tracks in ``root``, less what the student must not get (``SKIP_*``).

    Only tracked files: run outputs, stray files and ignored build output (``build/lib/...``)
    never travel into a starter.

    Raises:
        ValueError: ``root`` is not a git checkout (or git is missing).
    """
    try:
        listed = subprocess.run(["git", "ls-files", "--cached", "-z"], cwd=root, capture_output=True,
                                check=True).stdout.decode().split("\0")
    except (OSError, subprocess.CalledProcessError) as err:
        raise ValueError(f"{root} is not a git checkout: the starter copies the files git tracks, so run "
                         "python -m core.starter from a clone of the repository") from err
    files = [f for f in listed if f and (root / f).is_file()]
    return sorted(f for f in files
                  if not SKIP_PARTS & set(Path(f).parts) and (not f.startswith(SKIP_PREFIXES) or f in SHIPPED_DOCS)
                  and not f.endswith((".pyc", ".pt", ".pth")))


def student_readme(points: Sequence[int]) -> str:
    """The starter's README: the tasks, how they are graded, what is optional."""
    listed = ", ".join(f"Task {task.number} ({task.title}) {p}" for task, p in zip(TASKS, points))
    return STUDENT_README.read_text().replace("{POINTS}", f"{listed}; total {sum(points)}")


def generated_files(points: Sequence[int]) -> Dict[str, str]:
    """The files the starter gets that the solution does not have: README, points, feedback workflow."""
    grading = {"points": {task.marker: p for task, p in zip(TASKS, points)}}
    return {"README.md": student_readme(points),
            GRADING_FILE: json.dumps(grading, indent=2) + "\n",
            ".github/workflows/feedback.yml": FEEDBACK_WORKFLOW.read_text()}


def write_starter(root: Path, files: List[str], outDir: Path, points: Sequence[int]) -> Dict[str, int]:
    """Copy ``files`` from ``root`` to ``outDir``, stub the task files, add the generated files."""
    stubbed: Dict[str, int] = {}
    for rel in files:
        target = outDir / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if rel in TASK_FILES:
            text = (root / rel).read_text()
            stubbed[rel] = len(find_regions(text.splitlines(keepends=True), rel))
            target.write_text(stub_file(text, rel))
        else:
            shutil.copy2(root / rel, target)
    missing = set(TASK_FILES) - set(stubbed)
    if missing:
        raise ValueError(f"task files missing from the repository: {sorted(missing)}")
    for rel, text in generated_files(points).items():
        (outDir / rel).parent.mkdir(parents=True, exist_ok=True)
        (outDir / rel).write_text(text)
    return stubbed


def make_starter(outDir: Path, force: bool = False, root: Optional[Path] = None,
                 points: Sequence[int] = DEFAULT_POINTS) -> Dict[str, int]:
    """Write the starter repository to ``outDir``.

    Args:
        outDir: destination; must be empty or missing unless ``force``.
        force: write into a non-empty folder (files with the same names are replaced).
        root: the solution repository (default: this checkout).
        points: points of the tasks in order (written to ``tests/grading.json``, which the grader reads).

    Returns:
        ``{relative path: number of stubbed regions}`` for the task files.

    Raises:
        FileExistsError: ``outDir`` is not empty and ``force`` is False.
        ValueError: ``outDir`` is inside the source repository, ``root`` is not a git checkout,
            bad points, or markers are broken.
    """
    points = check_points(points)
    root = (root or REPO_ROOT).resolve()
    outDir = Path(outDir).resolve()
    if outDir == root or root in outDir.parents:
        raise ValueError(f"OUT_DIR {outDir} is inside the repository {root}; choose a folder outside it")
    if outDir.exists() and not outDir.is_dir():
        raise FileExistsError(f"OUT_DIR {outDir} exists and is not a folder")
    if outDir.is_dir() and any(outDir.iterdir()) and not force:
        raise FileExistsError(f"OUT_DIR {outDir} is not empty; choose an empty folder or pass --force")
    files = repository_files(root)
    # Written into a hidden folder beside OUT_DIR and renamed at the end: a failure (a full disk, a
    # read-only folder) leaves nothing behind, and a rerun is not refused as "not empty".
    created = [p for p in [outDir.parent, *outDir.parent.parents] if not p.exists()]
    try:
        outDir.parent.mkdir(parents=True, exist_ok=True)
        stage = Path(tempfile.mkdtemp(prefix=f".{outDir.name}.", dir=outDir.parent)) if not force else outDir
        umask = os.umask(0)
        os.umask(umask)
        stage.chmod(0o777 & ~umask)                  # mkdtemp makes 0700; a folder made by mkdir would not be
    except OSError as err:
        raise ValueError(f"OUT_DIR {outDir}: cannot create it ({err.strerror or err})") from None
    try:
        stubbed = write_starter(root, files, stage, points)
        if stage != outDir:
            if outDir.is_dir():
                outDir.rmdir()                       # empty (checked above)
            os.replace(stage, outDir)
    except BaseException as err:
        if stage != outDir:
            shutil.rmtree(stage, ignore_errors=True)
            for folder in created:
                shutil.rmtree(folder, ignore_errors=True)
        if isinstance(err, OSError):
            raise ValueError(f"OUT_DIR {outDir}: writing the starter failed ({err.strerror or err}); nothing "
                             "was left behind") from None
        raise
    return stubbed
