"""Build the Gradescope autograder: ``python -m core.starter OUT --autograder simclr_autograder.zip``.

The archive holds, at its top level (Gradescope unpacks it to ``/autograder/source``):

- ``setup.sh``: installs Python, the pinned CPU-only torch/torchvision wheels and the rest;
- ``run_autograder``: runs ``autograde.py`` for each submission;
- ``autograde.py``: copies only the task regions of the submission into ``starter/``'s copy,
  grades with ``python -m core.grade`` and writes ``results.json``;
- ``settings.json``: the result visibility chosen here;
- ``starter/``: a pristine starter (stubs, the instructor's tests, grader and points).
"""
from __future__ import annotations

import json
import stat
import tempfile
import zipfile
from pathlib import Path
from typing import Optional, Sequence

from core.files import atomic_write, output_problem
from core.course.grade import check_points
from core.course.starter.generate import make_starter
from core.course.tasks import DEFAULT_POINTS

TEMPLATES = Path(__file__).with_name("gradescope")
VISIBILITIES = ("visible", "hidden", "after_due_date", "after_published")
EXECUTABLE = {"setup.sh", "run_autograder"}


def check_destination(zipPath: Path) -> Path:
    """``zipPath`` resolved, if a new ``.zip`` file can be written there.

    Raises:
        ValueError: not a .zip name, the file exists, or its folder is missing or not writable.
    """
    zipPath = Path(zipPath)
    if zipPath.suffix != ".zip":
        raise ValueError(f"--autograder {zipPath}: the name must end in .zip")
    problem = output_problem(zipPath, replace=False, makeFolders=False)
    if problem:
        raise ValueError(f"--autograder {zipPath}: {problem}")
    return zipPath.resolve()


def add_file(archive: zipfile.ZipFile, name: str, data: bytes, executable: bool = False) -> None:
    info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = ((0o755 if executable else 0o644) | stat.S_IFREG) << 16
    archive.writestr(info, data)


def write_archive(handle, starter: Path, visibility: str) -> None:
    """The archive into the binary file ``handle``: the Gradescope scripts at the top, the starter below."""
    with zipfile.ZipFile(handle, "w") as archive:
        for name in ("setup.sh", "run_autograder", "autograde.py"):
            add_file(archive, name, (TEMPLATES / name).read_bytes(), name in EXECUTABLE)
        add_file(archive, "settings.json", json.dumps({"visibility": visibility}).encode())
        for path in sorted(starter.rglob("*")):
            if path.is_file():
                add_file(archive, f"starter/{path.relative_to(starter).as_posix()}", path.read_bytes(),
                         bool(path.stat().st_mode & stat.S_IXUSR))


def make_autograder(zipPath: Path, points: Sequence[int] = DEFAULT_POINTS, visibility: str = "visible",
                    root: Optional[Path] = None, check_only: bool = False) -> Path:
    """Write the Gradescope autograder archive.

    Args:
        zipPath: the new ``.zip`` file (never overwritten).
        points: points of the tasks (``core.course.tasks``), in order.
        visibility: Gradescope's visibility of the results (``VISIBILITIES``).
        root: the solution repository (default: this checkout).
        check_only: only check the arguments and the destination.

    Returns:
        The archive's path.

    Raises:
        ValueError: a bad argument or destination (one line naming it).
    """
    points = check_points(points)
    if visibility not in VISIBILITIES:
        raise ValueError(f"visibility={visibility!r} is not one of {list(VISIBILITIES)}")
    zipPath = check_destination(zipPath)
    if check_only:
        return zipPath
    with tempfile.TemporaryDirectory(prefix="simclr-autograder-") as temp:
        starter = Path(temp) / "starter"
        make_starter(starter, points=points, root=root)
        try:
            atomic_write(zipPath, lambda handle: write_archive(handle, starter, visibility))
        except OSError as err:
            raise ValueError(f"--autograder {zipPath}: writing the archive failed ({err.strerror or err}); "
                             "nothing was left behind") from None
    return zipPath
