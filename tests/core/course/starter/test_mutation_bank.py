"""The grader against a bank of student solutions: correct ones pass their task, buggy ones fail it.

Each file in ``solutions/`` holds one solution's task regions and the verdict the
grader must reach::

    # verdict: pass | fail
    # expect: REGEX          (fail: the first failure's message must match it)
    # optional: pass | fail  (Task 4: the verdict of the efficiency tests, task4_optional)
    # region core/nn/loss/nt_xent.py 0
    ...the region's body, unindented...

The test writes a fresh starter (every other task stays a stub: each task is graded on
its own), writes the solution's regions, and runs
``python -m core.grade --task N --exitfirst``. A change that makes the grader accept a bug or
reject a correct solution fails here.
"""
import json
import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from core.course.starter import make_starter
from core.course.task_regions import find_regions
from tests.conftest import TIMEOUT

BANK = Path(__file__).with_name("solutions")


def parse(path):
    """``(meta, {(file, index): body lines})`` of a solution file."""
    meta, regions, current = {}, {}, None
    for line in path.read_text().splitlines(keepends=True):
        if current is None and (match := re.match(r"# (verdict|expect|optional): (.*)", line)):
            meta[match[1]] = match[2].strip()
        elif (match := re.match(r"# region (\S+) (\d+)\s*$", line)):
            current = (match[1], int(match[2]))
            regions[current] = []
        elif current is not None:
            regions[current].append(line)
    meta["task"] = int(re.match(r"task(\d)", path.name)[1])
    assert meta.get("verdict") in ("pass", "fail") and regions, f"{path.name}: malformed solution file"
    return meta, regions


def apply(folder, regions, task):
    """Write ``regions`` into the starter in ``folder``; every other task stays a stub (graded on its own)."""
    for rel in {rel for rel, _ in regions}:
        path = folder / rel
        lines = path.read_text().splitlines(keepends=True)
        located = find_regions(lines, rel)
        for (fileRel, index), body in sorted(regions.items(), key=lambda item: -item[0][1]):
            if fileRel != rel:
                continue
            _, start, end = located[index]
            indent = re.match(r"\s*", lines[start - 1])[0]
            lines[start:end] = [indent + line if line.strip() else line for line in body]
        path.write_text("".join(lines))
        for cached in (path.parent / "__pycache__").glob(f"{path.stem}.*.pyc"):   # the base's compiled copy
            cached.unlink()


def grade(folder, task, marker=None):
    env = dict(os.environ, PYTHONPATH=str(folder), OMP_NUM_THREADS="1")
    env.pop("PYTHONDONTWRITEBYTECODE", None)    # each copy starts from the base's compiled modules
    if marker:   # the optional efficiency tests: their own pytest run
        run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", marker,
                              "tests"], cwd=folder, env=env, capture_output=True, text=True, timeout=TIMEOUT,
                             stdin=subprocess.DEVNULL)
        return run.returncode == 0, run.stdout[-2000:]
    report = folder / "grade.json"
    command = [sys.executable, "-m", "core.grade", "--task", str(task), "--exitfirst", "--json", str(report)]
    run = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True, timeout=TIMEOUT,
                         stdin=subprocess.DEVNULL)
    assert report.is_file(), run.stdout[-2000:] + run.stderr[-2000:]
    row = json.loads(report.read_text())["tasks"][0]
    return row["graded"] > 0 and row["failed"] == 0, row["first_failure"] or json.dumps(row)


def judge(base, work, path):
    meta, regions = parse(path)
    folder = work / path.stem
    shutil.copytree(base, folder)
    apply(folder, regions, meta["task"])
    passed, message = grade(folder, meta["task"])
    problems = []
    if passed != (meta["verdict"] == "pass"):
        problems.append(f"{path.name}: expected {meta['verdict']}, the grader said "
                        f"{'pass' if passed else 'fail'}: {message}")
    elif not passed:
        if not message.startswith(f"Task {meta['task']}"):
            problems.append(f"{path.name}: the first failure does not start with 'Task {meta['task']}': {message}")
        if meta.get("expect") and not re.search(meta["expect"], message):
            problems.append(f"{path.name}: the first failure should match {meta['expect']!r}: {message}")
    if "optional" in meta:
        optionalPassed, output = grade(folder, meta["task"], marker=f"task{meta['task']}_optional")
        if optionalPassed != (meta["optional"] == "pass"):
            problems.append(f"{path.name}: task{meta['task']}_optional expected {meta['optional']}: {output}")
    shutil.rmtree(folder, ignore_errors=True)
    return problems


def test_bank_covers_every_task():
    tasks = {}
    for path in BANK.glob("*.solution"):
        meta, _ = parse(path)
        tasks.setdefault(meta["task"], set()).add(meta["verdict"])
    assert tasks == {n: {"pass", "fail"} for n in (1, 2, 3, 4)}


@pytest.mark.slow
def test_every_solution_gets_its_verdict(tmp_path):
    base = tmp_path / "starter"
    make_starter(base)
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(base)], check=True, timeout=TIMEOUT)   # copies
    # of the starter, and the grader's trees made from them, reuse this bytecode
    files = sorted(BANK.glob("*.solution"))
    assert len(files) >= 40
    only = os.environ.get("SIMCLR_BANK_ONLY")     # e.g. "task4_" while working on one task's tests
    files = [f for f in files if not only or re.search(only, f.name)]
    with ThreadPoolExecutor(max_workers=max(1, min(4, os.cpu_count() or 1))) as pool:
        problems = [p for result in pool.map(lambda f: judge(base, tmp_path, f), files) for p in result]
    assert not problems, "\n".join(problems)
