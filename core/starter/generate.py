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

import re
import shutil
import subprocess
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Tuple

from core.starter.hints import HINTS

REPO_ROOT = Path(__file__).resolve().parents[2]
TASK_FILES = ("core/data/data_augmentation.py", "core/nn/networks/simclr.py", "core/nn/loss/nt_xent.py",
              "core/nn/loss/nt_xent_distributed.py")
BEGIN = re.compile(r"^(?P<indent>\s*)# --- Task (?P<task>\d) begin: .* ---\s*$")
END = re.compile(r"^\s*# --- Task (?P<task>\d) end ---\s*$")
# Never copied: version control, caches, environments, run outputs.
SKIP_PARTS = {".git", "__pycache__", ".pytest_cache", ".venv", ".venv-ci", "venv", ".gl", ".whl"}
SKIP_PREFIXES = ("assets/logs", "assets/checkpoints", "assets/datasets",
                 # the generator and its tests are the instructor's, not the student's
                 "core/starter/", "tests/core/starter/")

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
    """Files to copy: git's tracked + untracked-not-ignored files, else a filtered walk."""
    try:
        listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
                                cwd=root, capture_output=True, check=True).stdout.decode().split("\0")
        files = [f for f in listed if f and (root / f).is_file()]
    except (OSError, subprocess.CalledProcessError):
        files = [str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()]
    return sorted(f for f in files
                  if not SKIP_PARTS & set(Path(f).parts) and not f.startswith(SKIP_PREFIXES)
                  and not f.endswith((".pyc", ".pt", ".pth")))


def make_starter(outDir: Path, force: bool = False, root: Optional[Path] = None) -> Dict[str, int]:
    """Write the starter repository to ``outDir``.

    Args:
        outDir: destination; must be empty or missing unless ``force``.
        force: write into a non-empty folder (files with the same names are replaced).
        root: the solution repository (default: this checkout).

    Returns:
        ``{relative path: number of stubbed regions}`` for the task files.

    Raises:
        FileExistsError: ``outDir`` is not empty and ``force`` is False.
        ValueError: ``outDir`` is inside the source repository, or markers are broken.
    """
    root = (root or REPO_ROOT).resolve()
    outDir = Path(outDir).resolve()
    if outDir == root or root in outDir.parents:
        raise ValueError(f"OUT_DIR {outDir} is inside the repository {root}; choose a folder outside it")
    if outDir.exists() and not outDir.is_dir():
        raise FileExistsError(f"OUT_DIR {outDir} exists and is not a folder")
    if outDir.is_dir() and any(outDir.iterdir()) and not force:
        raise FileExistsError(f"OUT_DIR {outDir} is not empty; choose an empty folder or pass --force")
    stubbed: Dict[str, int] = {}
    for rel in repository_files(root):
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
    return stubbed
