"""One home per job: each job below (reading checkpoints, writing files, the table of tasks, ...) is done in one
module, found by a grep over core/, train/ and benchmarks/."""
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
    # whether an output can be written, checked before any work: core.files.output_problem
    r"os\.access\(|W_OK": {"core/files.py"},
    # writing a file atomically: core.files.atomic_write (generate.py moves a staged starter *folder* into place)
    r"\bmkstemp\(|os\.replace\(": {"core/files.py", "core/course/starter/generate.py"},
    # what the tasks are (numbers, titles, files, default points): core.course.tasks
    r"\(\"task1\"|\"projection head\"|\"NT-Xent loss\"|\(25, 25|\"25,25": {"core/course/tasks.py"},
    # an input error's one line and exit code 2 (SIMCLR_DEBUG shows the traceback): train.cli.report_input_error;
    # the two course commands report their own (they import no torch) and main.py's are not input errors
    r"print\(f?\"error:": {"train/cli.py", "train/main.py", "core/course/grade.py", "core/course/starter/__main__.py"},
    # the features of a dataset through an encoder: train.evaluation.dataset_features (benchmarks time their own)
    r"\bextract_features\(": {"core/eval/features.py", "train/evaluation.py", "benchmarks/"},
    # stop signals: train.stops
    r"signal\.SIGHUP\b": {"train/stops.py", "train/main.py", "train/cli.py", "core/course/sandbox/"},
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
                 "classifier_scores", "fit_end_to_end", "fit_frozen", "output_problem", "atomic_write_text",
                 "dataset_features", "split_features", "stop_signals", "number_of"):
        defined = [path.relative_to(REPO_ROOT).as_posix() for path in python_files()
                   if re.search(rf"^def {name}\(", path.read_text(), re.M)]
        assert len(defined) <= 1, f"{name} is defined in {defined}"
