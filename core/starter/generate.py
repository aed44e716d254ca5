"""Write the student starter: copy the repository, replace each task region by a stub.

A task region sits between two comment lines in the solution::

    # --- Task 2 begin: the encoder, x [B, C, H, W] -> h [B, latentChNo] ---
    ...solution...
    # --- Task 2 end ---

In the starter the markers stay (students see where to write) and the lines
between them become the hints of ``core/starter/hints.py`` and a
``raise NotImplementedError("Task N: ...")``, which the tests turn into
"Task N not implemented yet: ...".
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from core.starter.hints import HINTS

REPO_ROOT = Path(__file__).resolve().parents[2]
TASK_FILES = ("core/data/data_augmentation.py", "core/data/batch_augmentation.py", "core/nn/networks/simclr.py",
              "core/nn/loss/nt_xent.py", "core/nn/loss/nt_xent_distributed.py")
BEGIN = re.compile(r"^(?P<indent>\s*)# --- Task (?P<task>\d) begin: .* ---\s*$")
END = re.compile(r"^\s*# --- Task (?P<task>\d) end ---\s*$")
# Never copied: version control, caches, environments, run outputs.
SKIP_PARTS = {".git", "__pycache__", ".pytest_cache", ".venv", ".venv-ci", "venv", ".gl", ".whl"}
SKIP_PREFIXES = ("assets/logs", "assets/checkpoints", "assets/datasets",
                 # the generator and its tests are the instructor's, not the student's
                 "core/starter/", "tests/core/starter/",
                 # the benchmarks hold working recipes and losses (reference implementations to time)
                 "benchmarks/", ".ci/")
STUDENT_README = Path(__file__).with_name("student_readme.md")
DEFAULT_POINTS = (25, 25, 25, 25)
TASK_TITLES = ("augmentation", "encoder", "projection head", "NT-Xent loss")

Region = Tuple[int, int, int]  # (task, first line index of the body, index of the end marker)


def find_regions(lines: List[str], path: str = "<text>") -> List[Region]:
    """Locate task regions in ``lines``; raises ``ValueError`` on unbalanced markers."""
    regions, open_ = [], None
    for i, line in enumerate(lines):
        if (match := BEGIN.match(line)):
            if open_ is not None:
                raise ValueError(f"{path}:{i + 1}: Task region opened inside another one")
            open_ = (int(match["task"]), i + 1)
        elif (match := END.match(line)):
            if open_ is None or int(match["task"]) != open_[0]:
                raise ValueError(f"{path}:{i + 1}: 'Task {match['task']} end' without its begin marker")
            regions.append((open_[0], open_[1], i))
            open_ = None
    if open_ is not None:
        raise ValueError(f"{path}: Task {open_[0]} region is never closed")
    return regions


def stub_lines(relPath: str, index: int, indent: str) -> List[str]:
    """The hint comments and the raise that replace region ``index`` of ``relPath``."""
    instruction, comments = HINTS[(relPath, index)]
    task = instruction.split(":")[0].split(" (")[0]
    lines = [f"{indent}# TODO({task}): {comments[0]}\n"]
    lines += [f"{indent}# {text}\n" for text in comments[1:]]
    lines.append(f"{indent}raise NotImplementedError(\n")
    lines.append(f'{indent}    "{instruction} - see README, {task}")\n')
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


def restore_regions(solutionText: str, starterText: str, relPath: str = "<text>",
                    tasks: Optional[Iterable[int]] = None) -> str:
    """Put the solution's region bodies back into a starter file (for instructors and the tests).

    Args:
        tasks: restore only these task numbers (default: all).
    """
    wanted = None if tasks is None else set(tasks)
    sol = solutionText.splitlines(keepends=True)
    sta = starterText.splitlines(keepends=True)
    solRegions, staRegions = find_regions(sol, relPath), find_regions(sta, relPath)
    if [r[0] for r in solRegions] != [r[0] for r in staRegions]:
        raise ValueError(f"{relPath}: the starter's task regions do not match the solution's")
    out, cursor = [], 0
    for (task, solStart, solEnd), (_, staStart, staEnd) in zip(solRegions, staRegions):
        if wanted is not None and task not in wanted:
            continue
        out += sta[cursor:staStart] + sol[solStart:solEnd]
        cursor = staEnd
    return "".join(out + sta[cursor:])


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
                  if not SKIP_PARTS & set(Path(f).parts) and not f.startswith(SKIP_PREFIXES)
                  and not f.endswith((".pyc", ".pt", ".pth")))


def classroom_files(points: Sequence[int]) -> Dict[str, str]:
    """GitHub Classroom autograding: one test per task (``python -m core.grade --task N``) with its points."""
    tests, steps, runners = [], [], []
    for number, (title, value) in enumerate(zip(TASK_TITLES, points), start=1):
        name, command = f"Task {number}: {title}", f"python -m core.grade --task {number}"
        tests.append({"name": name, "setup": "", "run": command, "input": "", "output": "",
                      "comparison": "included", "timeout": 10, "points": value})
        steps.append(f"""      - name: {name}
        id: task{number}
        uses: classroom-resources/autograding-command-grader@v1
        with:
          test-name: "{name}"
          setup-command: ""
          command: {command}
          timeout: 10
          max-score: {value}
""")
        runners.append(f"task{number}")
    env = "".join(f"          {r.upper()}_RESULTS: \"${{{{steps.{r}.outputs.result}}}}\"\n" for r in runners)
    workflow = f"""# GitHub Classroom autograding: one graded step per task (points in max-score).
name: Autograding Tests
on: [push, workflow_dispatch, repository_dispatch]
permissions:
  checks: write
  actions: read
  contents: read
jobs:
  run-autograding-tests:
    runs-on: ubuntu-latest
    if: github.actor != 'github-classroom[bot]'
    steps:
      - name: Checkout code
        uses: actions/checkout@v4
      - name: Set up Python
        uses: actions/setup-python@v5
        with:
          python-version: "3.11"
      - name: Install
        run: pip install -r req_pip.txt
{"".join(steps)}      - name: Autograding Reporter
        uses: classroom-resources/autograding-grading-reporter@v1
        env:
{env}        with:
          runners: {",".join(runners)}
"""
    return {".github/classroom/autograding.json": json.dumps({"tests": tests}, indent=2) + "\n",
            ".github/workflows/classroom.yml": workflow}


def student_readme(points: Sequence[int]) -> str:
    """The starter's README: the tasks, how they are graded, what is optional."""
    listed = ", ".join(f"Task {n} {p}" for n, p in enumerate(points, start=1))
    return STUDENT_README.read_text().replace("{POINTS}", f"{listed} (total {sum(points)})")


def check_points(points: Sequence[int]) -> Tuple[int, ...]:
    """Four non-negative integers, or a ``ValueError`` naming the value."""
    values = tuple(points)
    if len(values) != 4 or any(isinstance(p, bool) or not isinstance(p, int) or p < 0 for p in values):
        raise ValueError(f"points={list(values)!r} must be four non-negative integers (Tasks 1-4), e.g. 25,25,25,25")
    return values


def make_starter(outDir: Path, force: bool = False, root: Optional[Path] = None,
                 points: Sequence[int] = DEFAULT_POINTS) -> Dict[str, int]:
    """Write the starter repository to ``outDir``.

    Args:
        outDir: destination; must be empty or missing unless ``force``.
        force: write into a non-empty folder (files with the same names are replaced).
        root: the solution repository (default: this checkout).
        points: points of Tasks 1-4 in the grading report and the Classroom setup.

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
    generated = {"README.md": student_readme(points), **classroom_files(points)}
    for rel, text in generated.items():
        (outDir / rel).parent.mkdir(parents=True, exist_ok=True)
        (outDir / rel).write_text(text)
    return stubbed
