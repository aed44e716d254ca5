"""Messages between the judge and a child: values only, never pickles.

A message is a JSON header and the raw bytes of its tensors and arrays::

    8 bytes: header length H | 8 bytes: payload length P | H bytes JSON | P bytes

Encodable values: ``None``, bools, ints, floats (with ``nan``/``inf``), strings,
lists, tuples, dicts, ``torch.Tensor``, ``numpy.ndarray`` and numpy scalars, PIL
images, ``torch.dtype``, ``torch.Size``, ``torch.Generator`` (its state). Anything
else is handed to ``opaque(value, encoder)`` (the child keeps it and sends a handle, or a
builder's recipe); a ``{"__handle__": ...}`` entry is handed to ``handle(entry, decoder)``.

The reader refuses a message over ``MAX_MESSAGE`` bytes or nested deeper than
``MAX_DEPTH``, so a child cannot make the judge hold more than that.
"""
from __future__ import annotations

import json
import math
import os
import struct
from typing import Any, BinaryIO, Callable, Dict, List, Optional, Tuple

import numpy as np
import torch

MAX_MESSAGE = 64 * 2 ** 20
MAX_DEPTH = 40
MAX_TEXT = 4000
FRAME = struct.Struct("<QQ")
DTYPES = {str(d).replace("torch.", ""): d for d in (
    torch.float16, torch.bfloat16, torch.float32, torch.float64, torch.uint8, torch.int8, torch.int16,
    torch.int32, torch.int64, torch.bool, torch.complex64, torch.complex128)}


class WireError(Exception):
    """A message that breaks the format or its limits (names which)."""


def _float(value: float) -> Any:
    return value if math.isfinite(value) else {"__float__": repr(value)}


class Encoder:
    """Turns a value into a JSON-able tree plus the bytes of its tensors."""

    def __init__(self, opaque: Optional[Callable[[Any, "Encoder"], Any]] = None):
        self.blobs: List[bytes] = []
        self.size = 0
        self.opaque = opaque

    def blob(self, data: bytes) -> int:
        self.size += len(data)
        if self.size > MAX_MESSAGE:
            raise WireError(f"a message over {MAX_MESSAGE // 2 ** 20} MB")
        self.blobs.append(data)
        return len(self.blobs) - 1

    def tensor(self, value: torch.Tensor) -> dict:
        data = value.detach().cpu().contiguous()
        if data.dtype == torch.bfloat16:
            raw = data.view(torch.int16).numpy().tobytes()
        else:
            raw = data.numpy().tobytes()
        return {"__tensor__": self.blob(raw), "dtype": str(data.dtype).replace("torch.", ""),
                "shape": list(data.shape), "grad": bool(value.requires_grad)}

    def __call__(self, value: Any, depth: int = 0) -> Any:
        if depth > MAX_DEPTH:
            raise WireError(f"a value nested deeper than {MAX_DEPTH}")
        if value is None or isinstance(value, (bool, str)):
            return value
        if isinstance(value, int):
            return value if abs(value) < 2 ** 63 else {"__bigint__": str(value)}
        if isinstance(value, float):
            return _float(value)
        if isinstance(value, torch.Tensor):
            return self.tensor(value)
        if isinstance(value, np.ndarray) and value.dtype.kind in "biufc":
            return {"__ndarray__": self.blob(np.ascontiguousarray(value).tobytes()), "dtype": value.dtype.str,
                    "shape": list(value.shape)}
        if isinstance(value, np.generic) and value.dtype.kind in "biufc":
            return {"__npscalar__": self(value.item(), depth + 1), "dtype": value.dtype.str}
        if isinstance(value, torch.Size):
            return {"__size__": list(value)}
        if isinstance(value, torch.dtype):
            return {"__dtype__": str(value).replace("torch.", "")}
        if isinstance(value, torch.Generator):
            return {"__generator__": self.tensor(value.get_state())}
        if type(value).__module__.startswith("PIL.") and hasattr(value, "mode") and hasattr(value, "size"):
            return {"__pil__": value.mode, "array": self(np.asarray(value), depth + 1)}
        if isinstance(value, tuple):
            return {"__tuple__": [self(v, depth + 1) for v in value]}
        if isinstance(value, list):
            return [self(v, depth + 1) for v in value]
        if isinstance(value, dict):
            if all(isinstance(k, str) and not k.startswith("__") for k in value):
                return {k: self(v, depth + 1) for k, v in value.items()}
            return {"__dict__": [[self(k, depth + 1), self(v, depth + 1)] for k, v in value.items()]}
        if self.opaque is not None:
            return self.opaque(value, self)
        raise WireError(f"cannot send a {type(value).__name__} to the child (values only: tensors, arrays, "
                        "numbers, strings, lists, tuples, dicts)")


class Decoder:
    """The inverse of ``Encoder``; ``handle`` makes the object for a ``{"__handle__": ...}`` entry."""

    def __init__(self, blobs: List[memoryview], handle: Optional[Callable[[dict, "Decoder"], Any]] = None):
        self.blobs = blobs
        self.handle = handle

    def blob(self, index: Any) -> memoryview:
        if not isinstance(index, int) or not 0 <= index < len(self.blobs):
            raise WireError(f"a reference to data that was not sent ({index!r})")
        return self.blobs[index]

    def tensor(self, entry: dict) -> torch.Tensor:
        dtype = DTYPES.get(entry.get("dtype"))
        shape = entry.get("shape")
        if dtype is None or not isinstance(shape, list) or not all(isinstance(s, int) and s >= 0 for s in shape):
            raise WireError(f"a tensor of unknown dtype or shape ({entry.get('dtype')!r}, {shape!r})")
        raw = self.blob(entry["__tensor__"])
        count = math.prod(shape)
        if dtype == torch.bfloat16:
            array = np.frombuffer(raw, dtype=np.int16, count=count) if count else np.zeros(0, np.int16)
            out = torch.from_numpy(array.copy()).view(torch.bfloat16)
        else:
            npType = torch.empty(0, dtype=dtype).numpy().dtype
            if len(raw) != count * npType.itemsize:
                raise WireError(f"a tensor whose data does not match its shape {shape}")
            out = torch.from_numpy(np.frombuffer(raw, dtype=npType, count=count).copy())
        out = out.reshape(shape)
        if entry.get("grad") is True and out.is_floating_point():
            out.requires_grad_(True)
        return out

    def __call__(self, value: Any, depth: int = 0) -> Any:
        if depth > MAX_DEPTH:
            raise WireError(f"a value nested deeper than {MAX_DEPTH}")
        if value is None or isinstance(value, (bool, int, float, str)):
            return value
        if isinstance(value, list):
            return [self(v, depth + 1) for v in value]
        if not isinstance(value, dict):
            raise WireError(f"an entry of unknown kind ({type(value).__name__})")
        if "__tensor__" in value:
            return self.tensor(value)
        if "__ndarray__" in value:
            try:
                dtype = np.dtype(value["dtype"])
                shape = tuple(value["shape"])
                count = math.prod(shape)
                if dtype.kind not in "biufc" or not all(isinstance(s, int) and s >= 0 for s in shape):
                    raise ValueError(dtype)
                return np.frombuffer(self.blob(value["__ndarray__"]), dtype=dtype, count=count).copy().reshape(shape)
            except (TypeError, ValueError) as err:
                raise WireError(f"an array that does not match its dtype or shape ({err})") from None
        if "__npscalar__" in value:
            try:
                return np.dtype(value["dtype"]).type(self(value["__npscalar__"], depth + 1))
            except (TypeError, ValueError) as err:
                raise WireError(f"a numpy scalar of unknown dtype ({err})") from None
        if "__float__" in value:
            text = value["__float__"]
            if text not in ("nan", "inf", "-inf"):
                raise WireError(f"a float written as {text!r}")
            return float(text)
        if "__bigint__" in value:
            text = str(value["__bigint__"])
            if len(text) > 400:
                raise WireError("an integer of over 400 digits")
            return int(text)
        if "__size__" in value:
            return torch.Size([int(v) for v in value["__size__"]])
        if "__dtype__" in value:
            if value["__dtype__"] not in DTYPES:
                raise WireError(f"an unknown dtype {value['__dtype__']!r}")
            return DTYPES[value["__dtype__"]]
        if "__generator__" in value:
            generator = torch.Generator()
            generator.set_state(self.tensor(value["__generator__"]).to(torch.uint8))
            return generator
        if "__pil__" in value:
            from PIL import Image

            return Image.fromarray(self(value["array"], depth + 1), mode=str(value["__pil__"]))
        if "__tuple__" in value:
            return tuple(self(v, depth + 1) for v in value["__tuple__"])
        if "__dict__" in value:
            return {self(k, depth + 1): self(v, depth + 1) for k, v in value["__dict__"]}
        if "__handle__" in value:
            if self.handle is None:
                raise WireError("a handle where none is allowed")
            return self.handle(value, self)
        if any(k.startswith("__") for k in value):
            raise WireError(f"an entry of unknown kind ({sorted(value)[:3]})")
        return {k: self(v, depth + 1) for k, v in value.items()}


def write_message(stream: BinaryIO, header: Dict[str, Any], blobs: List[bytes]) -> None:
    """Write one framed message and flush."""
    text = json.dumps(header, allow_nan=False).encode()
    payload = b"".join(struct.pack("<Q", len(b)) + b for b in blobs)
    if len(text) + len(payload) > MAX_MESSAGE:
        raise WireError(f"a message over {MAX_MESSAGE // 2 ** 20} MB")
    stream.write(FRAME.pack(len(text), len(payload)) + text + payload)
    stream.flush()


def read_exact(fd: int, count: int) -> bytes:
    """``count`` bytes from ``fd`` (raises EOFError when the writer is gone first)."""
    chunks, left = [], count
    while left:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            raise EOFError("the other side closed the channel")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def read_message(fd: int) -> Tuple[Dict[str, Any], List[memoryview]]:
    """One message from ``fd``: its header and its blobs.

    Raises:
        EOFError: the writer closed the channel.
        WireError: the message breaks the format or ``MAX_MESSAGE``.
    """
    headLength, payloadLength = FRAME.unpack(read_exact(fd, FRAME.size))
    if headLength + payloadLength > MAX_MESSAGE:
        raise WireError(f"a message of {(headLength + payloadLength) / 2 ** 20:.0f} MB (the limit is "
                        f"{MAX_MESSAGE // 2 ** 20} MB)")
    try:
        header = json.loads(read_exact(fd, headLength))
    except (ValueError, RecursionError) as err:
        raise WireError(f"a header that is not JSON ({str(err)[:80]})") from None
    if not isinstance(header, dict):
        raise WireError("a header that is not an object")
    payload = memoryview(read_exact(fd, payloadLength))
    blobs, cursor = [], 0
    while cursor < len(payload):
        if cursor + 8 > len(payload):
            raise WireError("a payload cut short")
        (size,) = struct.unpack("<Q", payload[cursor:cursor + 8])
        cursor += 8
        if cursor + size > len(payload):
            raise WireError("a payload cut short")
        blobs.append(payload[cursor:cursor + size])
        cursor += size
    return header, blobs


def clip(text: Any, limit: int = MAX_TEXT) -> str:
    """``text`` as a string of at most ``limit`` characters."""
    text = str(text)
    return text if len(text) <= limit else text[:limit] + f"... [{len(text) - limit} more characters]"
