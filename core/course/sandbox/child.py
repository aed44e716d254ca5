"""The child: runs one task's code for the judge, answering with values only.

Started by ``core.course.sandbox.remote`` in a child tree (``core/`` with one task's
regions from the submission) as ``python -m core.course.sandbox.child IN_FD OUT_FD``.
It reads requests from ``IN_FD`` and writes one answer per request to ``OUT_FD``
(``core.course.sandbox.wire``); what the student's code prints goes to its stdout, which
the judge keeps a bounded tail of.

Requests (``op``): ``new`` (an instance of a class of the tree), ``call``,
``getattr``, ``setattr``, ``repr`` (of an object held here), ``backward`` (the
gradients of an earlier call's outputs), ``region`` (run one task region with a
stand-in ``self`` and return the attributes it set). Every request carries the
judge's random states and every answer the child's, so seeded code draws what it
would draw in one process.

Nothing here is trusted by the judge: a student can change all of it, and what it
sends is read as the output of their program.
"""
from __future__ import annotations

import collections
import importlib  # noqa: SIM104 (only the task files' modules: TASK_MODULES)
import os
import sys
import textwrap
import traceback
from pathlib import Path
from typing import Any, Dict, List

import torch
from torch import nn

from core.course.sandbox.remote import flatten, module_recipe, random_states, rebuild, rebuildable, set_random_states
from core.course.sandbox.wire import Decoder, Encoder, clip, read_message, write_message
from core.course.task_regions import TASK_FILES, TaskSourceError, find_regions, install_region_guard

TREE = Path(__file__).resolve().parents[3]
TASK_MODULES = {rel[:-3].replace("/", ".") for rel in TASK_FILES}
MAX_GRAPHS = 64
MAX_TRACE = 12


class Child:
    def __init__(self):
        self.objects: Dict[int, Any] = {}
        self.shadows: Dict[int, Any] = {}
        self.graphs: "collections.OrderedDict[int, tuple]" = collections.OrderedDict()

    # ------------------------------------------------------------------ values
    def keep(self, value: Any, encoder: Any = None) -> dict:
        self.objects[id(value)] = value
        return {"__handle__": id(value), "type": type(value).__name__, "callable": callable(value)}

    def handle(self, entry: dict, decoder: Any = None) -> Any:
        key = entry.get("__handle__")
        if key == -1 and decoder is not None:         # a builder-made module the judge passes (Task 2's encoder)
            return rebuild(decoder(entry.get("recipe")), decoder(entry.get("state")), 0, check=False)
        if key not in self.objects:
            raise LookupError(f"no object {key!r} here (the process was restarted?)")
        return self.objects[key]

    def recipe_or_handle(self, value: Any, encoder: Encoder) -> Any:
        """A module a builder made travels as its recipe and weights; other objects stay here."""
        return module_recipe(value, encoder) if rebuildable(value) else self.keep(value)

    # ------------------------------------------------------------------ requests
    def run(self, header: dict, decode: Decoder) -> Any:
        op = header.get("op")
        if op == "new":
            module = task_module(header["module"])
            cls = getattr(module, header["cls"])
            return cls(*decode(header.get("args", [])), **decode(header.get("kwargs", {})))
        if op == "call":
            target = self.handle(header["target"])
            if header.get("method"):
                target = getattr(target, str(header["method"]))
            args, kwargs = decode(header.get("args", [])), decode(header.get("kwargs", {}))
            with torch.set_grad_enabled(bool(header.get("gradMode", True))):
                result = target(*args, **kwargs)
            inputs = [t for t in flatten((args, kwargs)) if isinstance(t, torch.Tensor) and t.requires_grad]
            outputs = [t for t in flatten(result) if isinstance(t, torch.Tensor) and t.requires_grad]
            if inputs and outputs:
                self.graphs[header["call"]] = (outputs, inputs)
                while len(self.graphs) > MAX_GRAPHS:
                    self.graphs.popitem(last=False)
            generators = [g.get_state() for g in flatten((args, kwargs)) if isinstance(g, torch.Generator)]
            return {"result": result, "generators": generators}
        if op == "getattr":
            return getattr(self.handle(header["target"]), str(header["name"]))
        if op == "setattr":
            setattr(self.handle(header["target"]), str(header["name"]), decode(header["value"]))
            return None
        if op == "repr":
            return clip(repr(self.handle(header["target"])))
        if op == "backward":
            outputs, inputs = self.graphs.pop(header["call"])
            grads = decode(header["grads"])
            pairs = [(o, g) for o, g in zip(outputs, grads) if g is not None]
            found = torch.autograd.grad([o for o, _ in pairs], inputs, [g for _, g in pairs], allow_unused=True)
            return list(found)
        if op == "region":
            return self.region(header, decode)
        raise ValueError(f"unknown request {op!r}")

    def region(self, header: dict, decode: Decoder) -> Dict[str, Any]:
        """Run region ``index`` of ``file`` with a stand-in ``self`` holding the judge's data attributes."""
        module = task_module(header["module"])
        cls = getattr(module, header["cls"])
        key = header["key"]
        shadow = self.shadows.get(key)
        if shadow is None:
            shadow = cls.__new__(cls)
            if isinstance(shadow, nn.Module):
                nn.Module.__init__(shadow)
            self.shadows[key] = shadow
        state = decode(header.get("state", {}))
        for name, value in state.items():
            setattr(shadow, name, value)
        before = {name: id(value) for name, value in attributes(shadow).items()}
        code = region_function(Path(module.__file__), int(header["index"]))
        function = type(region_function)(code, dict(vars(module)))
        context = getattr(shadow, str(header["context"]))() if header.get("context") else None
        if context is None:
            function(shadow)
        else:
            with context:
                function(shadow)
        return {name: value for name, value in attributes(shadow).items()
                if not name.startswith("_") and before.get(name) != id(value)}


def attributes(obj: Any) -> Dict[str, Any]:
    """``obj``'s attributes, a module's submodules, parameters and buffers included."""
    found = dict(vars(obj))
    if isinstance(obj, nn.Module):
        for table in ("_parameters", "_buffers", "_modules"):
            found.update(vars(obj).get(table, {}))
    return found


def task_module(name: Any):
    """One of the task files' modules (nothing else is imported by name)."""
    if name not in TASK_MODULES:
        raise ValueError(f"{name!r} is not a task file's module")
    return importlib.import_module(name)


def region_function(path: Path, index: int):
    """The compiled body of region ``index`` of ``path`` as ``_task_region(self)``, line numbers kept."""
    lines = path.read_text().splitlines(keepends=True)
    rel = path.resolve().relative_to(TREE).as_posix()
    task, start, end = find_regions(lines, rel)[index]
    body = textwrap.dedent("".join(lines[start:end])) or "pass\n"
    if not body.strip() or all(not line.strip() or line.strip().startswith("#") for line in body.splitlines()):
        body += "pass\n"
    source = "\n" * (start - 1) + "def _task_region(self):\n" + textwrap.indent(body, "    ")
    try:
        code = compile(source, str(path), "exec", dont_inherit=True)
    except (SyntaxError, ValueError) as err:
        from core.course.task_regions import syntax_error_message

        if isinstance(err, SyntaxError):
            raise TaskSourceError(syntax_error_message(task, rel, err)) from None
        raise TaskSourceError(f"Task {task}: your code does not compile: {err}") from None
    return next(c for c in code.co_consts if isinstance(c, type(code)) and c.co_name == "_task_region")


def error_of(err: BaseException) -> dict:
    """The exception as data: its type, arguments (clipped) and the frames of the tree's files."""
    frames = [f for f in traceback.extract_tb(err.__traceback__)
              if f.filename.startswith(str(TREE)) and "/core/sandbox/" not in f.filename]
    trace = [f"{Path(f.filename).resolve().relative_to(TREE).as_posix()}, line {f.lineno}, in {f.name}: "
             f"{clip(f.line or '', 200)}" for f in frames[-MAX_TRACE:]]
    args = [a if isinstance(a, (int, float, bool)) or a is None else clip(a) for a in err.args[:4]]
    return {"type": type(err).__name__, "module": type(err).__module__, "args": args, "message": clip(err),
            "trace": trace}


def serve(inFd: int, outFd: int) -> None:
    child = Child()
    out = os.fdopen(outFd, "wb", buffering=0)
    while True:
        try:
            header, blobs = read_message(inFd)
        except EOFError:
            return
        decode = Decoder(blobs, handle=child.handle)
        answer: Dict[str, Any]
        try:
            set_random_states(decode(header.get("rng", {})))
            value = child.run(header, decode)
            encoder = Encoder(opaque=child.recipe_or_handle if header.get("op") == "region" else child.keep)
            answer = {"ok": child.keep(value) if header.get("op") == "new" else encoder(value)}
        except BaseException as err:  # noqa: BLE001  (student code may raise anything, SystemExit included)
            encoder, answer = Encoder(), {"error": error_of(err)}
        try:
            answer["rng"] = encoder(random_states())      # after the answer's own data
            write_message(out, answer, encoder.blobs)
        except Exception as err:  # noqa: BLE001  (an answer too large for the channel)
            write_message(out, {"error": error_of(err)}, [])


def main(argv: List[str]) -> None:
    install_region_guard(TREE)
    serve(int(argv[0]), int(argv[1]))


if __name__ == "__main__":
    main(sys.argv[1:])
