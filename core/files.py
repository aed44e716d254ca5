"""Writing a user's files safely: refuse an output before any work (``output_problem``), and write it so
that a crash or a kill leaves the old file or the new one, never half of one (``atomic_write``).

Every tool of the project that writes a file the user named or will read (checkpoints, exported encoders,
result JSONs and figures, grading reports, the autograder archive, TensorBoard's projector config) goes
through these two.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, Callable, Optional


def output_problem(path: Path, replace: bool = False, makeFolders: bool = True) -> Optional[str]:
    """Why ``path`` cannot be written, or None; checked before any computation.

    Args:
        path: the file to write.
        replace: an existing file may be replaced (else it is refused: nothing is overwritten).
        makeFolders: missing folders above ``path`` will be created (else its folder must exist).

    Returns:
        A reason that completes "cannot write PATH: ...", or None.
    """
    path = Path(path)
    if path.is_dir():
        return "is a folder; give a file name"
    if path.exists() and not replace:
        return "exists (nothing is overwritten); choose another name"
    if path.exists() and not os.access(path, os.W_OK):
        return "is not writable"
    parent = path.parent if str(path.parent) else Path(".")
    if not makeFolders and not parent.is_dir():
        return f"the folder {parent} does not exist"
    folder = next((p for p in (parent, *parent.parents) if p.exists()), Path("."))
    if not folder.is_dir():
        return f"{folder} is a file, not a folder"
    if not os.access(folder, os.W_OK):
        return f"{folder} is not writable"
    return None


def atomic_write(path: Path, write: Callable[[Any], Any]) -> None:
    """``write(binary handle)`` into a uniquely named hidden temp file beside ``path``, fsync, rename.

    Missing folders are created. The temp file is removed if ``write`` fails or the process is
    interrupted; two writers of the same path at once never share a temp file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, 0o666 & ~current_umask())   # mkstemp makes 0600; give it the mode of the run's other files
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        dirFd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dirFd)
        finally:
            os.close(dirFd)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(text: str, path: Path) -> None:
    """Write ``text`` (UTF-8) to ``path`` with ``atomic_write``."""
    atomic_write(path, lambda handle: handle.write(text.encode()))


def current_umask() -> int:
    """The process's umask (read by setting it and putting it back)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask
