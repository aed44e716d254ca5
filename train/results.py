"""Where the evaluation CLIs put their results: named after the checkpoint, beside the run's TensorBoard logs.

``linear_eval.py`` and ``finetune.py`` write ``<run>/<tool>_<encoder>[_K_per_class].json``
and scalars under ``<run>/<tool>/``, where ``<encoder>`` is the checkpoint's file
name (``checkpoint_epoch0080``, ``encoder``) or ``random_init``: probes of two
checkpoints never overwrite each other; running the same probe again stops before computing unless
``--force`` (then its JSON result is replaced and its TensorBoard scalars are appended to the earlier ones).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, List, Optional

from core.errors import UserInputError
from core.files import atomic_write, atomic_write_text, output_problem


def encoder_name(ckpt: Optional[str], randomInit: bool) -> str:
    """``'random_init'``, or the checkpoint's file name without ``.pt`` (a folder means its ``encoder.pt``)."""
    if randomInit:
        return "random_init"
    path = Path(ckpt)
    return "encoder" if path.is_dir() else path.stem


def labels_tag(perClass: Optional[int] = None, fraction: Optional[float] = None) -> Optional[str]:
    """``'10_per_class'``, ``'0p1_of_labels'`` or None (all labels)."""
    if perClass:
        return f"{perClass}_per_class"
    if fraction is not None:
        return f"{fraction:g}".replace(".", "p") + "_of_labels"
    return None


def result_stem(tool: str, ckpt: Optional[str], randomInit: bool, labels: Optional[str] = None) -> str:
    """``linear_eval_checkpoint_epoch0080_10_per_class`` and the like (``labels`` from ``labels_tag``)."""
    stem = f"{tool}_{encoder_name(ckpt, randomInit)}"
    return stem + (f"_{labels}" if labels else "")


def check_result_paths(folder: Path, tool: str, stem: str, force: bool = False) -> None:
    """Refuse, before any computation, a result that ``write_result`` could not or should not write.

    Args:
        force: an earlier result of the same name may be replaced (``--force``).

    Raises:
        UserInputError: naming the path and why (it exists, a file where the folder goes, read-only,
            a folder where the JSON goes).
    """
    json = folder / f"{stem}.json"
    if json.is_file() and not force:
        raise UserInputError(f"{json} exists (an earlier {tool} of this encoder); pass --force to replace it, "
                             "or move it away")
    for path in (json, folder / tool / "events"):
        problem = output_problem(path, replace=True)
        if problem:
            raise UserInputError(f"cannot write the {tool} result {path}: {problem}; set general.logsDir "
                                 "(-l or --opts) to a writable folder")


def save_figure(fig, path: Path) -> None:
    """A matplotlib figure as PNG, written atomically (a kill never leaves half a picture)."""
    atomic_write(path, lambda handle: fig.savefig(handle, format="png"))


def write_result(folder: Path, tool: str, stem: str, result: dict, scalars: Dict[str, float],
                 curves: Optional[Dict[str, List[float]]] = None) -> Path:
    """``<folder>/<stem>.json``; the ``scalars`` (and ``curves``, one value per epoch from 1) as ``<stem>/<key>``
    in ``<folder>/<tool>/`` (TensorBoard)."""
    from torch.utils.tensorboard import SummaryWriter

    try:
        text = json.dumps(result, indent=2, allow_nan=False) + "\n"
    except ValueError:
        raise UserInputError(f"the {tool} result holds a NaN or infinite number (did training diverge?); "
                             "nothing was written, the earlier result is kept") from None
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / f"{stem}.json"
    atomic_write_text(text, out)            # a unique temp name: two writers at once never collide
    with SummaryWriter(str(folder / tool)) as writer:
        for key, value in scalars.items():
            writer.add_scalar(f"{stem}/{key}", value, 0)
        for key, values in (curves or {}).items():
            for epoch, value in enumerate(values, start=1):
                writer.add_scalar(f"{stem}/{key}", value, epoch)
    return out
