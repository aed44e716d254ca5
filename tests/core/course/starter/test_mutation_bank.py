"""The grader against a bank of student solutions: correct ones pass their task, buggy ones fail it.

Each file in ``solutions/`` holds one solution's task regions and the verdict the
grader must reach::

    # verdict: pass | fail
    # expect: REGEX          (fail: the first failure's message must match it)
    # optional: pass | fail  (Task 4: the verdict of the efficiency tests, task4_optional)
    # region core/nn/loss/nt_xent.py 0
    ...the region's body, unindented...

The test writes copies of a fresh starter, each holding at most one solution per task (the
grader runs each task's regions in a process of its own, with every other region a stub,
so solutions of different tasks share a copy without meeting), and runs
``python -m core.grade --task N ... --exitfirst`` once per copy (``-x`` stops each task at its
first failure). A change that makes the grader accept a bug or reject a correct solution fails here.
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
    """Write ``regions`` into the copy in ``folder``; every other region stays as it is."""
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


def run_optional(folder, marker):
    """The optional efficiency tests: their own pytest run (they observe the code in-process)."""
    env = dict(os.environ, PYTHONPATH=str(folder), OMP_NUM_THREADS="1")
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", marker, "tests"],
                         cwd=folder, env=env, capture_output=True, text=True, timeout=TIMEOUT,
                         stdin=subprocess.DEVNULL)
    return run.returncode == 0, run.stdout[-2000:]


def grade(folder, tasks):
    """``{task: (passed, first failure or the row)}`` from one ``core.grade --task .. --exitfirst`` run."""
    env = dict(os.environ, PYTHONPATH=str(folder), OMP_NUM_THREADS="1")
    env.pop("PYTHONDONTWRITEBYTECODE", None)    # each copy starts from the base's compiled modules
    report = folder / "grade.json"
    command = [sys.executable, "-m", "core.grade", *[f"--task={n}" for n in tasks], "--exitfirst",
               "--json", str(report)]
    run = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True, timeout=TIMEOUT * len(tasks),
                         stdin=subprocess.DEVNULL)
    assert report.is_file(), run.stdout[-2000:] + run.stderr[-2000:]
    rows = {int(row["task"].split()[1]): row for row in json.loads(report.read_text())["tasks"]}
    assert sorted(rows) == sorted(tasks), rows
    return {n: (row["graded"] > 0 and row["failed"] == 0, row["first_failure"] or json.dumps(row))
            for n, row in rows.items()}


def bundles(files):
    """The solutions in groups of at most one per task: the i-th solution of each task together."""
    byTask = {}
    for path in files:
        meta, regions = parse(path)
        byTask.setdefault(meta["task"], []).append((path, meta, regions))
    return [[group[i] for group in byTask.values() if i < len(group)]
            for i in range(max(map(len, byTask.values()), default=0))]


def judge(base, work, bundle):
    """Grade one copy holding ``bundle``'s solutions; the problems found, one line each."""
    folder = work / f"copy{bundle[0][0].stem}"
    shutil.copytree(base, folder)
    for _, meta, regions in bundle:
        apply(folder, regions, meta["task"])
    verdicts = grade(folder, [meta["task"] for _, meta, _ in bundle])
    problems = []
    for path, meta, _ in bundle:
        passed, message = verdicts[meta["task"]]
        if passed != (meta["verdict"] == "pass"):
            problems.append(f"{path.name}: expected {meta['verdict']}, the grader said "
                            f"{'pass' if passed else 'fail'}: {message}")
        elif not passed:
            if not message.startswith(f"Task {meta['task']}"):
                problems.append(f"{path.name}: the first failure does not start with 'Task {meta['task']}': "
                                f"{message}")
            if meta.get("expect") and not re.search(meta["expect"], message):
                problems.append(f"{path.name}: the first failure should match {meta['expect']!r}: {message}")
        if "optional" in meta:
            optionalPassed, output = run_optional(folder, f"task{meta['task']}_optional")
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
        problems = [p for result in pool.map(lambda b: judge(base, tmp_path, b), bundles(files)) for p in result]
    assert not problems, "\n".join(problems)
