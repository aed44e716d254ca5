"""The judge's side: the task children, and the stand-ins its files use for the student's code.

In the judge tree every task region is replaced (``core.course.sandbox.trees``):

- a class holding a region (``TorchvisionView``, ``NTXent``, ...) becomes
  ``remote_class(...)``: its instances live in the task's child; calls, attribute
  reads and ``repr`` travel as values (``core.course.sandbox.wire``), and gradients flow
  back through ``Attach`` (the child keeps the graph until ``backward``);
- a region inside a class that stays here (``SimCLR.build``) becomes a call to
  ``run_region``: the child runs it with a stand-in ``self`` and returns the
  attributes it set; a module made by a builder (``ResNet(...).build()``) comes back
  as its recipe and weights and is rebuilt here by the instructor's builder.

One child runs at a time (one per task, started on first use). Each task has its own
time budget (``taskSeconds``, the child's whole life); when it is spent, or the child
dies, the child is killed with every process it started, and the task's remaining
calls fail with one line that says why. When the judge runs as root, the child runs
as an unprivileged user (``user``) that can read its own tree and nothing of the
judge's. Settings come from the ``SIMCLR_SANDBOX`` environment variable (JSON),
written by ``core.course.grade``.
"""
from __future__ import annotations

import builtins
import collections
import ctypes
import functools
import itertools
import json
import os
import queue
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np
import torch

from core.course.sandbox.wire import Decoder, Encoder, WireError, clip, read_message, write_message

SETTINGS_VARIABLE = "SIMCLR_SANDBOX"
OUTPUT_TAIL = 4000
MAX_RESTARTS = 3
BUILTIN_ERRORS = {name: getattr(builtins, name) for name in (
    "NotImplementedError", "ValueError", "TypeError", "RuntimeError", "AttributeError", "NameError",
    "UnboundLocalError", "IndexError", "KeyError", "LookupError", "AssertionError", "ZeroDivisionError",
    "ImportError", "ModuleNotFoundError", "OverflowError", "RecursionError", "ArithmeticError",
    "FloatingPointError", "StopIteration", "OSError", "FileNotFoundError", "PermissionError", "MemoryError")}
REBUILT = {("core.nn.networks.resnet", "ResNet"), ("core.nn.networks.mlp", "MLP")}


def builder(module: str, name: str) -> type:
    """The instructor's builder class of ``REBUILT`` (a fixed table: nothing else is rebuilt)."""
    from core.nn.networks.mlp import MLP
    from core.nn.networks.resnet import ResNet

    return {("core.nn.networks.resnet", "ResNet"): ResNet, ("core.nn.networks.mlp", "MLP"): MLP}[(module, name)]


class RemoteError(Exception):
    """An exception of the student's code whose type is not a builtin one (its name leads the message)."""


class TaskStopped(RuntimeError):
    """The task's child was stopped: its time was spent, or it died too often."""


class Child:
    """One child process: its channels, a reader thread and a bounded tail of what it printed."""

    def __init__(self, task: int, tree: Path, user: Optional[str], scratch: Path, everyone: bool = False):
        self.task = task
        self.everyone = everyone
        requestRead, self.requestWrite = os.pipe()
        self.answerRead, answerWrite = os.pipe()
        env = child_environment(scratch, user)
        options = dict(privileges(user)) if user else {}
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-E", "-s", "-m", "core.course.sandbox.child", str(requestRead), str(answerWrite)],
                cwd=tree, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                pass_fds=(requestRead, answerWrite), start_new_session=True,
                preexec_fn=functools.partial(limits, dropped=bool(user)), **options)
        finally:
            os.close(requestRead)
            os.close(answerWrite)
        self.user = user
        self.requests = os.fdopen(self.requestWrite, "wb", buffering=0)
        self.answers: "queue.Queue[Any]" = queue.Queue()
        self.tail = collections.deque(maxlen=64)
        self.printed = 0
        threading.Thread(target=self._read_answers, daemon=True).start()
        threading.Thread(target=self._drain, daemon=True).start()

    def _read_answers(self) -> None:
        while True:
            try:
                self.answers.put(read_message(self.answerRead))
            except (EOFError, OSError):
                self.answers.put(EOFError())
                return
            except WireError as err:
                self.answers.put(err)
                return

    def _drain(self) -> None:
        while True:
            chunk = self.process.stdout.read1(65536) if self.process.stdout else b""
            if not chunk:
                return
            self.printed += len(chunk)
            self.tail.append(chunk[-OUTPUT_TAIL:])

    def output(self) -> str:
        text = b"".join(self.tail)[-OUTPUT_TAIL:].decode(errors="replace").strip()
        return text

    def ask(self, header: dict, blobs: List[bytes], timeout: float):
        write_message(self.requests, header, blobs)
        deadline = time.monotonic() + timeout
        while True:
            try:
                answer = self.answers.get(timeout=max(0.001, min(0.2, deadline - time.monotonic())))
                break
            except queue.Empty:
                if self.process.poll() is not None:
                    # the child is gone (a process it started may still hold the channel open): an answer it
                    # wrote just before may still be on its way
                    try:
                        answer = self.answers.get(timeout=1.0)
                        break
                    except queue.Empty:
                        raise EOFError("the child exited") from None
                if time.monotonic() >= deadline:
                    raise TimeoutError from None
        if isinstance(answer, BaseException):
            raise answer
        return answer

    def close(self) -> None:
        """Kill the child and every process it started."""
        for stream in (self.requests,):
            try:
                stream.close()
            except OSError:
                pass
        kill_everything(self.process, self.user, self.everyone)
        try:
            os.close(self.answerRead)
        except OSError:
            pass


def privileges(user: str) -> Dict[str, Any]:
    import pwd

    entry = pwd.getpwnam(user)
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": [], "umask": 0o077}


def limits(dropped: bool = False) -> None:
    """In the child before it starts: the first the kernel kills when memory runs out (not the judge), no core
    files, a bounded number of processes for its user."""
    import resource

    try:
        with open("/proc/self/oom_score_adj", "w") as stream:
            stream.write("1000")
    except OSError:
        pass
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if not dropped:
        return                                   # the grader's own user: its other processes count too
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_NPROC)
        resource.setrlimit(resource.RLIMIT_NPROC, (min(512, hard if hard >= 0 else 512), hard))
    except (ValueError, OSError):
        pass


def child_environment(scratch: Path, user: Optional[str]) -> Dict[str, str]:
    keep = ("PATH", "LANG", "LC_ALL", "SYSTEMROOT")
    env = {k: v for k, v in os.environ.items() if k in keep} if user else {
        k: v for k, v in os.environ.items() if k != SETTINGS_VARIABLE and not k.startswith("PYTEST")}
    env.update(HOME=str(scratch), TMPDIR=str(scratch), PYTHONDONTWRITEBYTECODE="1", MPLBACKEND="Agg",
               PYTHONUNBUFFERED="1", OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"),
               MKL_NUM_THREADS=os.environ.get("MKL_NUM_THREADS", "1"))
    env.pop("PYTHONPATH", None)
    return env


def kill_everything(process: subprocess.Popen, user: Optional[str], everyone: bool = False) -> None:
    """SIGKILL the child, every process below this one (orphans come here: ``become_subreaper``) and, with
    ``everyone`` (one grading per machine, as on Gradescope), every process of the child's user."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    for pid in descendants(os.getpid()):
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    if user and everyone:
        kill_user(user)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        pass
    reap_orphans()


def kill_user(user: str) -> None:
    """kill(-1) from a process of ``user`` reaches every process of that user, wherever it moved."""
    subprocess.run([sys.executable, "-E", "-s", "-c", "import os, signal; os.kill(-1, signal.SIGKILL)"],
                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   cwd="/", timeout=30, **privileges(user))


def descendants(root: int) -> List[int]:
    """The processes below ``root`` (Linux ``/proc``; empty elsewhere)."""
    children: Dict[int, List[int]] = collections.defaultdict(list)
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            children[int(fields[1])].append(int(entry.name))
        except (OSError, IndexError, ValueError):
            continue
    found, todo = [], [root]
    while todo:
        for pid in children.get(todo.pop(), []):
            found.append(pid)
            todo.append(pid)
    return found


def become_subreaper() -> None:
    """Orphans of the children are re-parented to this process (Linux), so ``descendants`` finds them."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)   # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        pass


def reap_orphans() -> None:
    """Collect killed orphans (re-parented here) without touching children that ``subprocess`` tracks."""
    for pid in descendants(os.getpid()):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            if stat.rsplit(")", 1)[1].split()[0] == "Z":
                os.waitpid(pid, os.WNOHANG)
        except (OSError, IndexError, ChildProcessError):
            continue


class Sandbox:
    """The task children of one grading run: one alive at a time, each task with its own budget."""

    def __init__(self, settings: Dict[str, Any]):
        self.trees = {int(task): Path(path) for task, path in settings["trees"].items()}
        self.scratch = {int(task): Path(path) for task, path in settings.get("scratch", {}).items()}
        self.user = settings.get("user") or None
        self.everyone = bool(settings.get("killUser"))
        self.taskSeconds = float(settings.get("taskSeconds", 120))
        self.current: Optional[Child] = None
        self.generation: Dict[int, int] = collections.defaultdict(int)
        self.spent: Dict[int, float] = collections.defaultdict(float)
        self.restarts: Dict[int, int] = collections.defaultdict(int)
        self.stopped: Dict[int, str] = {}
        self.calls = itertools.count()

    def child(self, task: int) -> Child:
        if task in self.stopped:
            raise TaskStopped(self.stopped[task])
        if self.current is not None and self.current.task == task and self.current.process.poll() is None:
            return self.current
        self.close()
        if task not in self.trees:
            raise TaskStopped(f"Task {task}: no code of this task is graded in this run")
        if self.generation[task] > MAX_RESTARTS:
            self.stopped[task] = (f"Task {task}: the process running your code ended {MAX_RESTARTS + 1} times; "
                                  "the task's remaining tests are not run")
            raise TaskStopped(self.stopped[task])
        self.generation[task] += 1
        start = time.monotonic()
        self.current = Child(task, self.trees[task], self.user, self.scratch.get(task, self.trees[task]),
                             self.everyone)
        self.spent[task] += time.monotonic() - start
        return self.current

    def close(self) -> None:
        if self.current is not None:
            self.current.close()
            self.current = None

    def ask(self, task: int, header: dict) -> Any:
        """Send ``header`` (its values encoded) to the task's child; returns the decoded answer.

        Raises:
            the student's exception (rebuilt), ``TaskStopped`` (time spent, too many restarts) or
            ``RuntimeError`` (the child died or broke the protocol; the next call restarts it).
        """
        child = self.child(task)
        generation = self.generation[task]
        encoder = Encoder(opaque=lambda value, enc: self.reference(value, task, generation, enc))
        sent = {key: encoder(value) for key, value in header.items()}
        sent["rng"] = encoder(random_states())
        left = self.taskSeconds - self.spent[task]
        start = time.monotonic()
        try:
            answer, blobs = child.ask(sent, encoder.blobs, left)
        except TimeoutError:
            self.spent[task] += time.monotonic() - start
            self.stopped[task] = (f"Task {task}: your code did not finish within the task's time limit of "
                                  f"{self.taskSeconds:.0f} s (an endless loop, or far slower than it needs to be?)")
            self.close()
            raise TaskStopped(self.stopped[task]) from None
        except (EOFError, OSError, WireError) as err:
            self.spent[task] += time.monotonic() - start
            why = self.death(child, err)
            self.close()
            raise RuntimeError(why) from None
        self.spent[task] += time.monotonic() - start
        decoder = Decoder(blobs, handle=lambda entry, dec: self.object(entry, dec, task, generation))
        if "error" in answer:
            raise rebuilt_error(answer["error"], task)
        value = decoder(answer.get("ok"))
        if isinstance(answer.get("rng"), dict):
            set_random_states(decoder(answer["rng"]))
        return value

    def death(self, child: Child, err: BaseException) -> str:
        if isinstance(err, WireError):
            return f"Task {child.task}: the process running your code sent {err}; it was stopped"
        try:
            code = child.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            code = None
        how = (f"was killed by signal {-code}" + (" (out of memory?)" if code == -signal.SIGKILL else "")
               if code is not None and code < 0 else f"exited with code {code}")
        said = child.output()
        return (f"Task {child.task}: the process running your code {how} before it answered (os._exit, "
                f"sys.exit or a crash in your code?)" + (f"; its last output: {clip(said, 600)}" if said else ""))

    def reference(self, value: Any, task: int, generation: int, encoder: Encoder) -> dict:
        if rebuildable(value):
            return module_recipe(value, encoder)
        if isinstance(value, RemoteObject):
            if value._task != task or value._generation != generation:
                raise WireError("an object of another process (was it restarted?)")
            return {"__handle__": value._key}
        raise WireError(f"cannot send a {type(value).__name__} to the child (values only: tensors, arrays, "
                        "numbers, strings, lists, tuples, dicts)")

    def object(self, entry: dict, decoder: Decoder, task: int, generation: int) -> Any:
        if entry.get("__handle__") == -1:
            return rebuild(decoder(entry.get("recipe")), decoder(entry.get("state")), task)
        key = entry.get("__handle__")
        if not isinstance(key, int):
            raise WireError("a handle without a number")
        return RemoteObject.attach(task, generation, key, clip(entry.get("type"), 80))


def rebuildable(value: Any) -> bool:
    """Whether ``value`` is a module one of the builders of ``REBUILT`` made (it travels as its recipe)."""
    return isinstance(value, torch.nn.Module) and (type(value).__module__, type(value).__qualname__) in REBUILT


def module_recipe(module: torch.nn.Module, encoder: Encoder) -> dict:
    """A builder-made module as data: the builder, its resolved hyperparameters, its weights and its repr."""
    recipe = {"module": type(module).__module__, "cls": type(module).__qualname__, "inChNo": module.inChNo,
              "outChNo": module.outChNo, "hparams": module.hparams(),
              "built": any(True for _ in module.children()), "training": module.training,
              "repr": clip(repr(module), 200000)}
    return {"__handle__": -1, "recipe": encoder(recipe), "state": encoder(dict(module.state_dict()))}


def rebuild(recipe: Any, state: Any, task: int, check: bool = True) -> torch.nn.Module:
    """A builder-made module made again from its recipe by the builder of this tree, with its weights.

    Args:
        check: refuse a module whose repr or weights do not match the rebuilt one (the judge reading a
            child's module: something changed it after ``build()``).
    """
    if not isinstance(recipe, dict) or (recipe.get("module"), recipe.get("cls")) not in REBUILT:
        raise TypeError(f"Task {task}: a module that is not ResNet(...).build() or MLP(...).build()")
    cls = builder(recipe["module"], recipe["cls"])
    hparams = recipe.get("hparams")
    if not isinstance(hparams, dict) or not isinstance(state, dict):
        raise TypeError(f"Task {task}: a {recipe['cls']} without its hyperparameters")
    module = cls(recipe.get("inChNo"), recipe.get("outChNo"), **hparams)
    if recipe.get("built"):
        module.build()
    module.train(bool(recipe.get("training", True)))
    try:
        module.load_state_dict(state, strict=True)
        same = repr(module) == recipe.get("repr")
    except (RuntimeError, TypeError, ValueError):
        same = False
    if check and not same:
        raise TypeError(f"Task {task}: the {recipe['cls']} your code built was changed after "
                        f"{recipe['cls']}(...).build(): the grader rebuilds it from the builder's arguments, so "
                        "give every choice to the builder (its docstring lists them) and keep what build() returns")
    return module


def rebuilt_error(error: Any, task: int) -> BaseException:
    """The student's exception, as its builtin type when it has one (same message), else ``RemoteError``."""
    if not isinstance(error, dict):
        return RuntimeError(f"Task {task}: the process running your code answered with an unreadable error")
    name, message = clip(error.get("type"), 80), clip(error.get("message", ""))
    args = error.get("args") if isinstance(error.get("args"), list) else [message]
    args = [a if isinstance(a, (int, float, bool)) or a is None else clip(a) for a in args[:4]]
    if name == "TaskSourceError":
        from core.course.task_regions import TaskSourceError

        err: BaseException = TaskSourceError(message)
    elif name in BUILTIN_ERRORS:
        try:
            err = BUILTIN_ERRORS[name](*args)
        except Exception:  # noqa: BLE001  (arguments the type does not take)
            err = BUILTIN_ERRORS[name](message)
    else:
        err = RemoteError(f"{name}: {message}")
    trace = [clip(line, 300) for line in error.get("trace", []) if isinstance(line, str)][-12:]
    if trace:
        err.add_note("in your code (a separate process):\n  " + "\n  ".join(trace))
    return err


class RemoteObject:
    """An object that lives in a task's child: calls, attributes and ``repr`` travel as values."""

    _SLOTS = ("_task", "_generation", "_key", "_typeName")

    @classmethod
    def attach(cls, task: int, generation: int, key: int, typeName: str) -> "RemoteObject":
        obj = object.__new__(cls)
        for name, value in zip(cls._SLOTS, (task, generation, key, typeName)):
            object.__setattr__(obj, name, value)
        return obj

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") and name.endswith("__") or name in RemoteObject._SLOTS:
            raise AttributeError(name)
        return sandbox().ask(self._task, {"op": "getattr", "target": self, "name": name})

    def __setattr__(self, name: str, value: Any) -> None:
        sandbox().ask(self._task, {"op": "setattr", "target": self, "name": name, "value": value})

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return remote_call(self, list(args), kwargs)

    def __repr__(self) -> str:
        return sandbox().ask(self._task, {"op": "repr", "target": self})


def remote_class(original: type, task: int) -> type:
    """A stand-in for ``original`` whose instances are made and kept in Task ``task``'s child."""
    module, name = original.__module__, original.__qualname__

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        made = sandbox().ask(task, {"op": "new", "module": module, "cls": name, "args": list(args),
                                    "kwargs": kwargs})
        for slot in RemoteObject._SLOTS:
            object.__setattr__(self, slot, object.__getattribute__(made, slot))

    namespace: Dict[str, Any] = {}
    for klass in reversed([k for k in original.__mro__ if k.__module__.startswith("core.")]):
        for key, value in vars(klass).items():
            if isinstance(value, (staticmethod, classmethod)):
                namespace[key] = value                   # the instructor's code; no instance state
            elif callable(value) and (not key.startswith("__") or key == "forward"):
                namespace[key] = forwarding(key)
            elif not key.startswith("__") and not isinstance(value, property):
                namespace[key] = value
    return type(original.__name__, (RemoteObject,), {**namespace, "__init__": __init__, "__module__": module,
                                                     "__qualname__": name, "__doc__": original.__doc__})


def forwarding(name: str):
    """A method that calls ``name`` on the instance in the child (so a test may still patch it here)."""
    def method(self, *args: Any, **kwargs: Any) -> Any:
        return remote_call(self, list(args), kwargs, method=name)

    method.__name__ = name
    return method


class Attach(torch.autograd.Function):
    """Joins a remote call's outputs to its inputs' graph: ``backward`` asks the child for the gradients."""

    @staticmethod
    def forward(ctx, box, *inputs):
        ctx.box = box
        outs = tuple(t.detach().clone() for t in box["outputs"])
        ctx.mark_non_differentiable(*[o for o, t in zip(outs, box["outputs"]) if not box["grad"][id(t)]])
        return outs

    @staticmethod
    def backward(ctx, *grads):
        box = ctx.box
        wanted = [g if box["grad"][id(t)] else None for g, t in zip(grads, box["outputs"])]
        found = sandbox().ask(box["task"], {"op": "backward", "call": box["call"], "grads": wanted})
        if not isinstance(found, list) or len(found) != box["inputs"]:
            raise RuntimeError(f"Task {box['task']}: the gradients of your code came back malformed")
        return (None, *[g if isinstance(g, torch.Tensor) else None for g in found])


def remote_call(target: RemoteObject, args: list, kwargs: dict, method: Optional[str] = None) -> Any:
    gradMode = torch.is_grad_enabled()
    inputs = [t for t in flatten((args, kwargs)) if isinstance(t, torch.Tensor) and t.requires_grad] \
        if gradMode else []
    box = sandbox()
    call = next(box.calls)
    answer = box.ask(target._task, {"op": "call", "target": target, "args": args, "kwargs": kwargs,
                                    "gradMode": gradMode, "call": call, "method": method})
    if not isinstance(answer, dict) or "result" not in answer:
        raise RuntimeError(f"Task {target._task}: the process running your code answered out of turn")
    result = answer["result"]
    generators = [g for g in flatten((args, kwargs)) if isinstance(g, torch.Generator)]
    for generator, state in zip(generators, answer.get("generators") or []):
        if isinstance(state, torch.Tensor):
            generator.set_state(state.to(torch.uint8))
    outputs = [t for t in flatten(result) if isinstance(t, torch.Tensor)]
    grad = {id(t): bool(t.requires_grad) for t in outputs}
    for t in outputs:
        t.requires_grad_(False)
    if not (inputs and any(grad.values())):
        return result
    joined = Attach.apply({"outputs": outputs, "grad": grad, "task": target._task, "call": call,
                           "inputs": len(inputs)}, *inputs)
    swap = {id(t): j for t, j in zip(outputs, joined)}
    return replace(result, swap)


def replace(value: Any, swap: Dict[int, Any], depth: int = 0) -> Any:
    if isinstance(value, torch.Tensor):
        return swap.get(id(value), value)
    if depth > 20:
        return value
    if isinstance(value, tuple):
        return tuple(replace(v, swap, depth + 1) for v in value)
    if isinstance(value, list):
        return [replace(v, swap, depth + 1) for v in value]
    if isinstance(value, dict):
        return {k: replace(v, swap, depth + 1) for k, v in value.items()}
    return value


def flatten(value: Any, depth: int = 0) -> List[Any]:
    """The leaves of nested lists, tuples and dicts (the child uses it too)."""
    if depth > 20:
        return []
    if isinstance(value, (list, tuple)):
        return [leaf for item in value for leaf in flatten(item, depth + 1)]
    if isinstance(value, dict):
        return [leaf for item in value.values() for leaf in flatten(item, depth + 1)]
    return [value]


_KEYS = itertools.count(1)


def run_region(obj: Any, path: str, index: int, task: int, context: Optional[str] = None) -> None:
    """Run region ``index`` of ``path`` in Task ``task``'s child with ``obj``'s data; set what it set."""
    if "_sandboxKey" not in vars(obj):
        object.__setattr__(obj, "_sandboxKey", next(_KEYS))
    state = {}
    for name, value in vars(obj).items():
        if name.startswith("_"):
            continue
        try:
            Encoder(opaque=lambda v, enc: module_recipe(v, enc) if rebuildable(v) else Encoder()(v))(value)
        except WireError:
            continue
        state[name] = value
    if isinstance(obj, torch.nn.Module):          # the modules an earlier task's builder made (Task 2's encoder)
        state.update({name: m for name, m in obj.named_children() if rebuildable(m)})
    changes = sandbox().ask(task, {"op": "region", "module": type(obj).__module__, "cls": type(obj).__qualname__,
                                   "key": vars(obj)["_sandboxKey"], "index": index, "state": state,
                                   "context": context, "path": path})
    if not isinstance(changes, dict):
        raise RuntimeError(f"Task {task}: the process running your code answered out of turn")
    for name, value in changes.items():
        if isinstance(name, str) and name.isidentifier() and not name.startswith("_"):
            setattr(obj, name, value)


def random_states() -> Dict[str, Any]:
    """Torch's, NumPy's and Python's global random states, as values (both sides send theirs with each message)."""
    version, internal, gaussNext = random.getstate()
    return {"torch": torch.get_rng_state(), "numpy": list(np.random.get_state()),
            "python": [version, np.asarray(internal, dtype=np.uint32), gaussNext]}     # one array, not 625 ints


def set_random_states(states: Any) -> None:
    """Take the other side's random states (ignored when malformed: they only decide later draws)."""
    try:
        torch.set_rng_state(states["torch"].to(torch.uint8))
        kind, keys, pos, gauss, cached = states["numpy"]
        np.random.set_state((str(kind), np.asarray(keys, dtype=np.uint32), int(pos), int(gauss), float(cached)))
        version, internal, gaussNext = states["python"]
        random.setstate((int(version), tuple(np.asarray(internal, dtype=np.uint32).tolist()), gaussNext))
    except (KeyError, TypeError, ValueError, RuntimeError, AttributeError):
        pass


_SANDBOX: Optional[Sandbox] = None


def sandbox() -> Sandbox:
    """The run's sandbox, made from ``SIMCLR_SANDBOX`` on first use."""
    global _SANDBOX
    if _SANDBOX is None:
        text = os.environ.get(SETTINGS_VARIABLE)
        if not text:
            raise RuntimeError("this copy of the task files is the grader's judge: it runs the student's code in a "
                               "child process set up by python -m core.grade")
        _SANDBOX = Sandbox(json.loads(text))
    return _SANDBOX


def shutdown() -> None:
    if _SANDBOX is not None:
        _SANDBOX.close()
