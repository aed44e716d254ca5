"""CLI: ``python -m core.starter OUT_DIR [--force]``."""
from __future__ import annotations

import argparse
import sys

from core.starter.generate import make_starter


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m core.starter",
        description="Write the student starter: this repository with Tasks 1-4 replaced by TODO stubs.")
    parser.add_argument("out_dir", help="destination folder (empty or new)")
    parser.add_argument("--force", action="store_true", help="write into a non-empty folder")
    parser.add_argument("--points", default="25,25,25,25",
                        help="points of Tasks 1-4 for the grading report and GitHub Classroom (default 25,25,25,25)")
    args = parser.parse_args(argv)
    try:
        parts = args.points.split(",")
        if not all(p.strip().isdigit() for p in parts):
            raise ValueError(f"--points={args.points!r} must be four non-negative integers, e.g. 30,20,20,30")
        stubbed = make_starter(args.out_dir, force=args.force, points=[int(p) for p in parts])
    except (FileExistsError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    regions = sum(stubbed.values())
    print(f"starter written to {args.out_dir}: {regions} task regions stubbed in {len(stubbed)} files")
    print(f"next: cd {args.out_dir} && python -m pytest -m task1   (then task2, task3, task4; "
          "python -m core.grade for the report)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
