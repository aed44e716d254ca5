"""The tutorial's task regions: find them, move them between copies, and keep one broken region local.

A task region is the student's part of a file, between two marker comments::

    # --- Task 2 begin: the encoder, x [B, C, H, W] -> h [B, latentChNo] ---
    ...the student's lines...
    # --- Task 2 end ---

Three users share this module:

- the starter generator replaces each region by a stub (``core/course/starter``);
- the Gradescope autograder copies only these lines from a submission into a
  pristine starter (``replace_regions``), so nothing else a student changed counts;
- the tests load the task files with ``install_region_guard``: a ``SyntaxError``
  inside one region turns that region alone into a ``TaskSourceError`` raised
  when it runs, so the other regions of the file (another task, or the other
  Task 1 backend) are still graded, and the report names the file, the line and
  the message. ``run_region`` runs one region on its own, so Task 2 and Task 3,
  which share ``SimCLR.build``, are graded independently.
"""
from __future__ import annotations

import importlib.abc  # noqa: SIM104 (the tests' loader of the task files)
import importlib.machinery  # noqa: SIM104 (the tests' loader of the task files)
import importlib.util  # noqa: SIM104 (the tests' loader of the task files)
import re
import sys
import textwrap
import types
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Tuple

from core.course.tasks import TASK_FILES

# The markers as the starter writes them ("# --- Task 2 begin: the encoder ---", "# --- Task 2 end ---"); forms a
# student plausibly retypes (no title, other spacing or dashes, other case) are read the same.
BEGIN = re.compile(r"^(?P<indent>\s*)#\s*-{2,}\s*task\s*(?P<task>\d+)\s+begin\b(?:\s*:.*?)?\s*-*\s*$", re.IGNORECASE)
END = re.compile(r"^\s*#\s*-{2,}\s*task\s*(?P<task>\d+)\s+end\s*-*\s*$", re.IGNORECASE)
FORM = "'# --- Task {task} begin: ... ---' and '# --- Task {task} end ---'"
REPO_ROOT = Path(__file__).resolve().parents[2]

Region = Tuple[int, int, int]  # (task, index of the first body line, index of the end marker)


class TaskSourceError(Exception):
    """A task region that does not compile; raised when that region would run."""


GUARD_NAME = "_TaskSourceError"   # the name a guarded module raises it by (set by RegionSafeLoader)


def find_regions(lines: List[str], path: str = "<text>") -> List[Region]:
    """Locate the task regions of a file given as lines.

    Returns:
        ``(task, first body line index, end marker index)`` for each region, in file order.

    Raises:
        ValueError: unbalanced or nested markers (names the file and line).
    """
    regions, opened = [], None
    for i, line in enumerate(lines):
        if (match := BEGIN.match(line)):
            if opened is not None:
                raise ValueError(f"{path}:{i + 1}: Task region opened inside another one (close each with "
                                 f"{FORM.format(task=opened[0]).split(' and ')[1]})")
            opened = (int(match["task"]), i + 1)
        elif (match := END.match(line)):
            if opened is None or int(match["task"]) != opened[0]:
                raise ValueError(f"{path}:{i + 1}: 'Task {match['task']} end' without its begin marker (the markers "
                                 f"are {FORM.format(task=match['task'])}, on lines of their own)")
            regions.append((opened[0], opened[1], i))
            opened = None
    if opened is not None:
        raise ValueError(f"{path}: Task {opened[0]} region is never closed (the markers are "
                         f"{FORM.format(task=opened[0])}, on lines of their own)")
    return regions


def replace_regions(sourceText: str, targetText: str, path: str = "<text>",
                    tasks: Optional[Iterable[int]] = None) -> str:
    """``targetText`` with the body of each of its regions taken from ``sourceText``.

    Everything outside the regions comes from ``targetText``.

    Args:
        tasks: replace only the regions of these task numbers (default: all).

    Raises:
        ValueError: broken markers, or the two files do not have the same regions in the same order.
    """
    source = sourceText.splitlines(keepends=True)
    target = targetText.splitlines(keepends=True)
    sourceRegions, targetRegions = find_regions(source, path), find_regions(target, path)
    if [r[0] for r in sourceRegions] != [r[0] for r in targetRegions]:
        raise ValueError(f"{path}: expected the task regions {[r[0] for r in targetRegions]} (one pair of "
                         f"'# --- Task N begin/end ---' lines each), found {[r[0] for r in sourceRegions]}")
    wanted = None if tasks is None else set(tasks)
    out, cursor = [], 0
    for (task, srcStart, srcEnd), (_, dstStart, dstEnd) in zip(sourceRegions, targetRegions):
        if wanted is not None and task not in wanted:
            continue
        body = source[srcStart:srcEnd]
        if body and not body[-1].endswith("\n"):
            body[-1] += "\n"
        out += target[cursor:dstStart] + body
        cursor = dstEnd
    return "".join(out + target[cursor:])


def syntax_error_message(task: int, path: str, err: SyntaxError) -> str:
    """One line: the task, the file, the line and Python's message."""
    where = f"{path}, line {err.lineno}" if err.lineno else path
    return (f"Task {task}: your code does not compile: SyntaxError in {where}: {err.msg}. Python stops at the first "
            "error it finds: fix it, then run the tests again (the other tasks are graded without this region)")


def guard_source(text: str, path: str) -> Tuple[str, List[str]]:
    """``text`` with every task region that does not compile replaced by a ``raise TaskSourceError``.

    Line numbers are kept (the region's lines become blank), so tracebacks of the
    other regions still point at the student's lines.

    Returns:
        The text to compile and the messages of the regions that were replaced.
    """
    lines = text.splitlines(keepends=True)
    messages: List[str] = []
    for _ in range(len(lines) + 1):
        try:
            compile("".join(lines), path, "exec", dont_inherit=True)
            return "".join(lines), messages
        except SyntaxError as err:
            try:
                regions = find_regions(lines, path)
            except ValueError:
                raise err from None
            region = region_of_error(lines, regions, (err.lineno or 0) - 1)
            if region is None:
                raise
            task, start, end = region
            message = syntax_error_message(task, path, err)
            messages.append(message)
            indent = BEGIN.match(lines[start - 1])["indent"]
            raiseLine = f"{indent}raise {GUARD_NAME}({message!r})\n"
            lines[start:end] = [raiseLine] + ["\n"] * max(0, end - start - 1)
    return "".join(lines), messages


def region_of_error(lines: List[str], regions: List[Region], line: int) -> Optional[Region]:
    """The region a syntax error at line index ``line`` belongs to, or None when it is outside all regions.

    An emptied region (no code left) is reported by Python on the next statement, after its end marker:
    the nearest such region above the error counts.
    """
    inside = next((r for r in regions if r[1] - 1 <= line <= r[2]), None)
    if inside is not None:
        return inside
    empty = [r for r in regions if r[2] < line and not any(
        code.strip() and not code.strip().startswith("#") for code in lines[r[1]:r[2]])]
    return empty[-1] if empty else None


class RegionSafeLoader(importlib.machinery.SourceFileLoader):
    """Loads a task file; a region that does not compile raises ``TaskSourceError`` when it runs."""

    def source_to_code(self, data, path, *, _optimize=-1):
        text = importlib.util.decode_source(data) if isinstance(data, (bytes, bytearray)) else data
        guarded, messages = guard_source(text, relative(path))
        self.guardedRegions = messages
        return compile(guarded, path, "exec", dont_inherit=True, optimize=_optimize)

    def exec_module(self, module):
        module.__dict__[GUARD_NAME] = TaskSourceError
        super().exec_module(module)

    def set_data(self, path, data, *, _mode=0o666):
        if getattr(self, "guardedRegions", None):
            return              # never cache the guarded code as the file's bytecode
        super().set_data(path, data, _mode=_mode)


class RegionGuardFinder(importlib.abc.MetaPathFinder):
    """Finds the task files of ``root`` and loads them with ``RegionSafeLoader``."""

    def __init__(self, root: Path):
        self.paths = {str((root / rel).resolve()) for rel in TASK_FILES}

    def find_spec(self, fullname, path=None, target=None):
        if not fullname.startswith("core."):
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.origin is None or str(Path(spec.origin).resolve()) not in self.paths:
            return None
        spec.loader = RegionSafeLoader(fullname, spec.origin)
        return spec


def install_region_guard(root: Path = REPO_ROOT) -> None:
    """Load this repository's task files region-safely from now on (idempotent)."""
    if not any(isinstance(f, RegionGuardFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, RegionGuardFinder(root))


def relative(path: Any) -> str:
    """``path`` relative to the repository root when it is inside it (for messages)."""
    try:
        return Path(path).resolve().relative_to(REPO_ROOT).as_posix()
    except ValueError:
        return str(path)


def region_code(module: Any, task: int):
    """The compiled body of ``task``'s (first) region in ``module``, as a function of ``self``.

    The region's lines keep their line numbers in tracebacks.

    Raises:
        TaskSourceError: the region does not compile (names the file, line and message).
        LookupError: the module has no region of ``task``.
    """
    path = module.__file__
    lines = Path(path).read_text().splitlines(keepends=True)
    rel = relative(path)
    for regionTask, start, end in find_regions(lines, rel):
        if regionTask != task:
            continue
        body = textwrap.dedent("".join(lines[start:end])) or "pass\n"
        source = "\n" * (start - 1) + "def _task_region(self):\n" + textwrap.indent(body, "    ") + \
            "    return locals()\n"
        try:
            code = compile(source, path, "exec", dont_inherit=True)
        except SyntaxError as err:
            raise TaskSourceError(syntax_error_message(task, rel, err)) from None
        return code
    raise LookupError(f"{rel} has no Task {task} region")


def run_region(obj: Any, task: int, context: Optional[Any] = None) -> Dict[str, Any]:
    """Run ``task``'s region of ``obj``'s module with ``self = obj``, and nothing else of the method.

    Args:
        obj: the instance the region's ``self`` refers to.
        context: an optional context manager entered around the region (what the method wraps it in).

    Returns:
        The region's local variables.
    """
    module = sys.modules[type(obj).__module__]
    code = next(const for const in region_code(module, task).co_consts
                if isinstance(const, types.CodeType) and const.co_name == "_task_region")
    region = types.FunctionType(code, dict(vars(module)))      # the module's globals, as in the method
    if context is None:
        return region(obj)
    with context:
        return region(obj)
