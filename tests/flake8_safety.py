"""A flake8 plugin (``setup.cfg`` ``[flake8:local-plugins]``): code that could run what a file or a config says.

Codes:
    SIM101 ``eval(`` or ``exec(``; SIM102 ``yaml.load(`` / ``yaml.unsafe_load(`` (use the safe loader);
    SIM103 ``__import__(``; SIM104 ``import importlib`` (names from a config must come from a fixed table).

The project never needs them: configs are read with ``yaml.SafeLoader``, checkpoints with
``weights_only=True``, and schedulers only from ``torch.optim.lr_scheduler``. The tests' loader of the
task files (``core/course/task_regions.py``) imports ``importlib`` and says so with ``# noqa: SIM104``.
"""
from __future__ import annotations

import ast
from typing import Iterator, Tuple


class SafetyChecker:
    """flake8 checker over one file's AST."""

    name = "simclr-safety"
    version = "1"

    def __init__(self, tree: ast.AST):
        self.tree = tree

    def run(self) -> Iterator[Tuple[int, int, str, type]]:
        for node in ast.walk(self.tree):
            message = problem(node)
            if message:
                yield node.lineno, node.col_offset, message, type(self)


def problem(node: ast.AST) -> str:
    """The flake8 message for ``node``, or ''."""
    if isinstance(node, ast.Call):
        func = node.func
        if isinstance(func, ast.Name) and func.id in ("eval", "exec"):
            return f"SIM101 {func.id}() runs text as code; parse the value instead"
        if isinstance(func, ast.Name) and func.id == "__import__":
            return "SIM103 __import__() imports a module by name; use a fixed table of allowed names"
        if (isinstance(func, ast.Attribute) and func.attr in ("load", "unsafe_load", "full_load")
                and isinstance(func.value, ast.Name) and func.value.id == "yaml"):
            return f"SIM102 yaml.{func.attr}() can build Python objects; use yaml.safe_load or a SafeLoader"
    if isinstance(node, ast.Import) and any(alias.name.split(".")[0] == "importlib" for alias in node.names):
        return "SIM104 importlib imports modules by name; use a fixed table of allowed names"
    if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "importlib":
        return "SIM104 importlib imports modules by name; use a fixed table of allowed names"
    return ""
