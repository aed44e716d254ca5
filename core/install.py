"""Make ``core`` and ``train`` importable from any directory of this environment.

The repository has no ``setup.py``/``pyproject.toml`` (its top level is fixed), so
instead of ``pip install -e .`` this writes a one-line ``.pth`` file into the
active environment's ``site-packages`` that points at the repository root: the
same mechanism an editable install uses. Run it from anywhere::

    python -m core.install            # link this checkout
    python -m core.install --remove   # undo
"""
from __future__ import annotations

import argparse
import sysconfig
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
PTH_NAME = "simclr_tutorial.pth"


def pth_path() -> Path:
    """Where the link file goes: the environment's pure-Python site-packages."""
    return Path(sysconfig.get_paths()["purelib"]) / PTH_NAME


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--remove", action="store_true", help="delete the link instead of writing it")
    args = parser.parse_args(argv)
    target = pth_path()
    if args.remove:
        target.unlink(missing_ok=True)
        print(f"removed {target}")
        return 0
    try:
        target.write_text(f"{REPO_ROOT}\n")
    except OSError as err:
        print(f"error: cannot write {target} ({err.strerror}); activate a virtual environment you own first")
        return 1
    print(f"linked {REPO_ROOT} into {target.parent}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
