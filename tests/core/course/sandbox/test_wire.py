"""Messages between the judge and a child: values round-trip exactly, anything else is refused, limits hold."""
import os
import random

import numpy as np
import pytest
import torch
from PIL import Image

from core.course.sandbox import wire
from core.course.sandbox.wire import Decoder, Encoder, WireError, clip, read_message, write_message


def round_trip(value, opaque=None, handle=None):
    read, writeEnd = os.pipe()
    encoder = Encoder(opaque=opaque)
    with os.fdopen(writeEnd, "wb") as stream:
        write_message(stream, {"value": encoder(value)}, encoder.blobs)
    header, blobs = read_message(read)
    os.close(read)
    return Decoder(blobs, handle=handle)(header["value"])


def test_values_round_trip_exactly():
    tensor = torch.randn(3, 4, dtype=torch.float64)
    value = {"t": tensor, "half": torch.randn(5).bfloat16(), "ints": torch.arange(6).reshape(2, 3),
             "array": np.arange(12, dtype=np.uint8).reshape(3, 4), "scalar": np.float32(1.5), "nan": float("nan"),
             "inf": -float("inf"), "big": 2 ** 70, "tuple": (1, "a", None, True), "size": torch.Size([2, 3]),
             "dtype": torch.float16, "keys": {1: "one", "__x": 2}, "pil": Image.new("RGB", (4, 3), (1, 2, 3)),
             "rng": random.getstate()}
    got = round_trip(value)
    assert torch.equal(got["t"], tensor) and got["t"].dtype == torch.float64
    assert torch.equal(got["half"], value["half"]) and torch.equal(got["ints"], value["ints"])
    assert np.array_equal(got["array"], value["array"]) and got["array"].dtype == np.uint8
    assert got["scalar"] == np.float32(1.5) and isinstance(got["scalar"], np.float32)
    assert np.isnan(got["nan"]) and got["inf"] == -float("inf") and got["big"] == 2 ** 70
    assert got["tuple"] == (1, "a", None, True) and got["size"] == torch.Size([2, 3])
    assert got["dtype"] is torch.float16 and got["keys"] == {1: "one", "__x": 2}
    assert got["pil"].mode == "RGB" and np.array_equal(np.asarray(got["pil"]), np.asarray(value["pil"]))
    assert got["rng"] == value["rng"]


def test_a_generator_travels_as_its_state_and_gradients_as_a_flag():
    generator = torch.Generator().manual_seed(3)
    got = round_trip({"g": generator, "x": torch.ones(2, requires_grad=True)})
    assert torch.equal(torch.rand(4, generator=got["g"]), torch.rand(4, generator=generator))
    assert got["x"].requires_grad


def test_objects_are_refused_unless_a_handler_takes_them():
    with pytest.raises(WireError, match="cannot send a object"):
        Encoder()(object())
    kept = []
    got = round_trip([object()], opaque=lambda value, _: kept.append(value) or {"__handle__": 7},
                     handle=lambda entry, _: ("handle", entry["__handle__"]))
    assert got == [("handle", 7)] and len(kept) == 1


def test_forged_entries_are_refused():
    with pytest.raises(WireError, match="not sent"):
        Decoder([])({"__tensor__": 3, "dtype": "float32", "shape": [1]})
    with pytest.raises(WireError, match="unknown dtype"):
        Decoder([memoryview(b"1234")])({"__tensor__": 0, "dtype": "object", "shape": [1]})
    with pytest.raises(WireError, match="does not match its shape"):
        Decoder([memoryview(b"1234")])({"__tensor__": 0, "dtype": "float32", "shape": [1000]})
    with pytest.raises(WireError, match="float written"):
        Decoder([])({"__float__": "1e999999"})
    with pytest.raises(WireError, match="unknown kind"):
        Decoder([])({"__code__": "import os"})
    with pytest.raises(WireError, match="no handle|where none"):
        Decoder([])({"__handle__": 1})


def test_limits_hold_on_both_sides(monkeypatch):
    nested = []
    for _ in range(wire.MAX_DEPTH + 5):
        nested = [nested]
    with pytest.raises(WireError, match="nested deeper"):
        Encoder()(nested)
    monkeypatch.setattr(wire, "MAX_MESSAGE", 1000)
    with pytest.raises(WireError, match="a message over"):
        Encoder()(torch.zeros(1000))
    read, writeEnd = os.pipe()
    os.write(writeEnd, wire.FRAME.pack(10 ** 9, 0))
    os.close(writeEnd)
    with pytest.raises(WireError, match="the limit is"):
        read_message(read)
    os.close(read)
    assert len(clip("x" * 10 ** 6)) < 4100 and clip("short") == "short"


def test_a_closed_channel_is_end_of_file():
    read, writeEnd = os.pipe()
    os.close(writeEnd)
    with pytest.raises(EOFError):
        read_message(read)
    os.close(read)
