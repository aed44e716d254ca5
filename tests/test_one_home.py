"""One home per job: the calls that read files or build loaders live in one module each."""
import re
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
HOMES = {
    r"torch\.load\(": {"core/nn/utils/checkpoint.py"},                 # read_weights
    r"\bDataLoader\(": {"train/builders.py"},                           # make_loader
    r"\branked_hits\(": {"core/eval/accuracy.py", "core/eval/classifier.py"},   # one score: classifier_scores
    # one classifier: probe and fine-tuning (a benchmark may time scikit-learn's beside it, as the reference)
    r"LogisticRegression|nn\.Linear\(features": {"core/eval/classifier.py", "benchmarks/"},
    # choosing and entering a device, and what it decides: core.nn.utils.device
    r"cuda\.set_device\(|cuda\.device_count\(|is_bf16_supported\(|GradScaler\(|pin_memory=|\bnccl\b":
        {"core/nn/utils/device.py"},
}


def python_files():
    for folder in ("core", "train", "benchmarks"):
        yield from sorted((REPO_ROOT / folder).rglob("*.py"))


@pytest.mark.parametrize("pattern", list(HOMES))
def test_calls_live_in_their_module(pattern):
    found = {path.relative_to(REPO_ROOT).as_posix() for path in python_files() if re.search(pattern, path.read_text())}
    outside = {name for name in found if not any(name == home or home.endswith("/") and name.startswith(home)
                                                 for home in HOMES[pattern])}     # a home ending in / is a folder
    assert not outside, f"{pattern} outside its home: {sorted(outside)}"
    assert found, f"{pattern}: its home no longer uses it (update this table)"


def test_one_definition_of_each_shared_helper():
    for name in ("check_points", "find_regions", "make_loader", "read_weights", "atomic_write", "linear_probe",
                 "classifier_scores", "fit_end_to_end", "fit_frozen"):
        defined = [path.relative_to(REPO_ROOT).as_posix() for path in python_files()
                   if re.search(rf"^def {name}\(", path.read_text(), re.M)]
        assert len(defined) <= 1, f"{name} is defined in {defined}"
