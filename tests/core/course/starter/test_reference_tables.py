"""The stored NT-Xent table the Task 4 tests grade against still equals the float64 formula."""
import json

import pytest

from tests.core.course.starter.nt_xent_reference import TABLE, build_table


def test_stored_table_matches_the_formula():
    stored, fresh = json.loads(TABLE.read_text()), build_table()
    assert len(stored["cases"]) == len(fresh["cases"]) == 24
    for old, new in zip(stored["cases"], fresh["cases"]):
        assert {k: old[k] for k in ("batch", "dim", "temperature", "seed")} == \
            {k: new[k] for k in ("batch", "dim", "temperature", "seed")}
        assert old["loss"] == pytest.approx(new["loss"], abs=1e-9)
        assert old["mistakes"] == pytest.approx(new["mistakes"], abs=1e-9)
    for key in ("gradA", "gradB"):
        flat = [v for row in stored["gradient"][key] for v in row]
        assert flat == pytest.approx([v for row in fresh["gradient"][key] for v in row], abs=1e-9)


def test_closed_forms_of_the_loop():
    """The reference loop itself: identical rows give log(2B - 1), and the mistakes differ from it."""
    import math

    import torch

    from tests.core.course.starter.nt_xent_reference import loop_loss

    z = torch.ones(4, 3)
    assert loop_loss(z, z, 0.5).item() == pytest.approx(math.log(7))
    assert loop_loss(z, z, 0.5, "no_mask").item() == pytest.approx(math.log(8))
    assert loop_loss(z, z, 0.5, "mean_over_b").item() == pytest.approx(2 * math.log(7))
