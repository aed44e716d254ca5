"""One grading run: build the trees, start the judge, read back what it recorded.

``grade_in_sandbox`` is what ``python -m core.grade`` and the Gradescope autograder
call; the same code, the same tests and the same scoring rule in both.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from core.course.sandbox.trees import build_trees, readable_by_all
from core.course.tasks import number_of

USER_VARIABLE = "SIMCLR_SANDBOX_USER"
STRICT_VARIABLE = "SIMCLR_SANDBOX_STRICT"
TASK_SECONDS_VARIABLE = "SIMCLR_TASK_TIMEOUT"
DEFAULT_USERS = ("simclr-student", "nobody")
DEFAULT_TASK_SECONDS = 120.0
LOG_LIMIT = 200_000


@dataclass
class Recorded:
    """What the judge recorded (the fields of ``core.course.grade.Collector``) and the run's notes."""

    rowOf: Dict[str, str] = field(default_factory=dict)
    results: Dict[str, Dict[str, str]] = field(default_factory=dict)
    importErrors: List[str] = field(default_factory=list)
    notes: Dict[int, List[str]] = field(default_factory=dict)
    log: str = ""
    failure: str = ""
    warning: str = ""


def sandbox_user() -> Tuple[Optional[str], str]:
    """The unprivileged user the children run as when the grader is root, and a note when there is none.

    Without root the children run as the grader's own user (a student grading their own work).
    As root, a user that can run this Python is required when ``SIMCLR_SANDBOX_STRICT`` is set
    (the Gradescope autograder sets it); otherwise the children run as root, with a note.

    Raises:
        ValueError: strict, and no such user (names the users tried and what to do).
    """
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return None, ""
    import pwd

    from core.course.sandbox.remote import privileges

    names = [os.environ[USER_VARIABLE]] if os.environ.get(USER_VARIABLE) else list(DEFAULT_USERS)
    problem = f"none of the users {names} exists"
    for name in names:
        try:
            if pwd.getpwnam(name).pw_uid == 0:
                continue
        except KeyError:
            continue
        try:
            done = subprocess.run([sys.executable, "-E", "-s", "-c", "import importlib.util, sys; "
                                   "sys.exit(importlib.util.find_spec('torch') is None)"], cwd="/", timeout=120,
                                  stdin=subprocess.DEVNULL, capture_output=True, **privileges(name))
            if done.returncode == 0:
                return name, ""
            problem = f"{name} cannot run {sys.executable} with torch ({done.stderr.decode(errors='replace')[-200:]})"
        except (OSError, subprocess.SubprocessError) as err:
            problem = f"{name} cannot run {sys.executable} ({err})"
    if os.environ.get(STRICT_VARIABLE):
        raise ValueError(f"the grader runs as root and must run the student's code as another user, but {problem}: "
                         f"create one (useradd --system simclr-student), name one in {USER_VARIABLE}, and install "
                         "Python and the requirements where every user can read them")
    return None, f"the student's code runs as root in its own process ({problem})"


def task_seconds() -> float:
    text = os.environ.get(TASK_SECONDS_VARIABLE, str(DEFAULT_TASK_SECONDS))
    try:
        value = float(text)
        if not 1 <= value <= 86400:
            raise ValueError
    except ValueError:
        raise ValueError(f"{TASK_SECONDS_VARIABLE}={text!r} must be a number of seconds from 1 to 86400") from None
    return value


def grade_in_sandbox(root: Path, submission: Path, markers: Sequence[str], extra: Sequence[str] = (),
                     timeout: Optional[float] = None) -> Recorded:
    """Grade ``markers`` of ``submission``'s regions with ``root``'s tests, the student's code in children.

    Args:
        root: the instructor's copy (tests, grader, given code; locally the repository itself).
        submission: where the task files are read from (only their regions count).
        timeout: the limit of the whole run in seconds (default: the task budgets plus two minutes).
    """
    user, why = sandbox_user()
    seconds = task_seconds()
    strict = bool(user and os.environ.get(STRICT_VARIABLE))     # one grading per machine: sweep the user
    tasks = tuple(sorted({number_of(m) for m in markers}))
    judgeBase = Path(tempfile.mkdtemp(prefix="simclr-judge-"))          # 0700: the judge's alone
    childBase = Path(tempfile.mkdtemp(prefix="simclr-child-"))
    recorded = Recorded(warning=why)
    try:
        judge, trees, recorded.notes = build_trees(Path(root), Path(submission), judgeBase, childBase, tasks)
        readable_by_all(childBase)
        scratch = {}
        for task in tasks:
            scratch[task] = childBase / f"scratch{task}"
            scratch[task].mkdir(mode=0o700)
            if user:
                import pwd

                entry = pwd.getpwnam(user)
                os.chown(scratch[task], entry.pw_uid, entry.pw_gid)
        settings = {"trees": {str(t): str(p) for t, p in trees.items()},
                    "scratch": {str(t): str(p) for t, p in scratch.items()}, "user": user, "taskSeconds": seconds,
                    "killUser": strict}
        report = judgeBase / "report.json"
        env = dict(os.environ, PYTHONPATH=str(judge), PYTHONDONTWRITEBYTECODE="1", MPLBACKEND="Agg",
                   SIMCLR_SANDBOX=json.dumps(settings))
        limit = timeout if timeout is not None else seconds * len(tasks) + 120
        start = time.monotonic()
        with open(judgeBase / "judge.log", "wb") as log:
            command = [sys.executable, "-m", "core.course.sandbox.judge", str(report), *markers, *extra]
            process = subprocess.Popen(command, cwd=judge, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                       stderr=subprocess.STDOUT)
            try:
                code = process.wait(timeout=limit)
            except BaseException:
                stop_judge(process)
                code = None
                if not isinstance(sys.exc_info()[1], subprocess.TimeoutExpired):
                    raise
        recorded.log = (judgeBase / "judge.log").read_bytes()[-LOG_LIMIT:].decode(errors="replace")
        if report.is_file():
            stored = json.loads(report.read_text())
            recorded.rowOf, recorded.results = stored["rowOf"], stored["results"]
            recorded.importErrors = stored["importErrors"]
        elif code is None:
            recorded.failure = (f"grading did not finish within {limit:.0f} s "
                                f"({time.monotonic() - start:.0f} s spent)")
        elif code in (-9, 137):
            recorded.failure = ("the grader was killed (out of memory? grading needs about 768 MB with the CPU-only "
                                "build of torch, 1.5 GB with the CUDA build)")
        else:
            recorded.failure = f"the grader stopped with exit code {code}: {recorded.log.strip()[-600:]}"
    finally:
        if strict:
            sweep(user)
        shutil.rmtree(judgeBase, ignore_errors=True)
        shutil.rmtree(childBase, ignore_errors=True)
    return recorded


def stop_judge(process: subprocess.Popen) -> None:
    """Kill the judge and everything below it (its children first: they live in sessions of their own)."""
    import signal

    from core.course.sandbox.remote import descendants

    for pid in [*descendants(process.pid), process.pid]:
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    process.wait()


def sweep(user: str) -> None:
    """Kill every process of the children's user (the judge already killed what it started)."""
    from core.course.sandbox.remote import kill_user

    kill_user(user)
