"""CLI: ``python -m core.starter OUT_DIR [--force] [--points 30,20,20,30] [--autograder ZIP]``."""
from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from core.course.grade import check_points
from core.course.starter.autograder import VISIBILITIES, make_autograder
from core.course.starter.generate import make_starter
from core.course.tasks import DEFAULT_POINTS


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m core.starter",
        description="Write the student starter: this repository with its task regions replaced by TODO stubs; "
                    "optionally the Gradescope autograder that grades it.")
    parser.add_argument("out_dir", help="destination folder of the starter (empty or new)")
    parser.add_argument("--force", action="store_true", help="write into a non-empty folder")
    default = ",".join(str(p) for p in DEFAULT_POINTS)
    parser.add_argument("--points", default=default,
                        help=f"points of the tasks in order, written to tests/grading.json (default {default})")
    parser.add_argument("--autograder", metavar="ZIP",
                        help="also write the Gradescope autograder (setup.sh, run_autograder, the starter with "
                             "the instructor's tests) to this .zip file")
    parser.add_argument("--visibility", default="visible", choices=VISIBILITIES,
                        help="when students see their Gradescope results (default: visible)")
    args = parser.parse_args(argv)
    try:
        points = check_points(args.points)
        if args.autograder:
            make_autograder(args.autograder, points=points, visibility=args.visibility, check_only=True)
        out = Path(args.out_dir)
        hadFiles = out.is_dir() and any(out.iterdir())
        stubbed = make_starter(args.out_dir, force=args.force, points=points)
        if args.autograder:
            try:
                make_autograder(args.autograder, points=points, visibility=args.visibility)
            except BaseException:
                if not hadFiles:            # the starter this run wrote goes too: a rerun starts clean
                    shutil.rmtree(out, ignore_errors=True)
                raise
    except (FileExistsError, ValueError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    regions = sum(stubbed.values())
    print(f"starter written to {args.out_dir}: {regions} task regions stubbed in {len(stubbed)} files")
    if args.autograder:
        print(f"Gradescope autograder written to {args.autograder} (upload it as the assignment's autograder; "
              "see docs/instructors.md)")
    print(f"next: cd {args.out_dir} && python -m pytest -m task1   (then task2, task3, task4; "
          "python -m core.grade for the report)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
