"""Few-label fine-tuning: outputs and errors (fast), and pretraining beating random init on digits (slow)."""
import json

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from tests.train.test_reliability import TINY
from train import finetune

pytestmark = pytest.mark.pipeline


def test_random_init_writes_json_and_tensorboard(tmp_path, capsys):
    logs = ["general.logsDir", str(tmp_path), "general.name", "ft"]
    code = finetune.main(["-l", "assets/experiments/quickstart.yaml", "--random-init", "--labels-per-class", "3",
                          "--epochs", "2", "--opts", *TINY, *logs])
    assert code == 0, capsys.readouterr().err
    result = json.loads((tmp_path / "ft" / "finetune_random_init_3_per_class.json").read_text())
    assert result["labeled_size"] == 30 and result["test_size"] == 359 and result["epochs"] == 2
    assert result["lr"] == pytest.approx(0.05 * 30 / 256) and 0 <= result["finetune_top1"] <= 1
    assert "finetune_top1" in capsys.readouterr().out
    acc = EventAccumulator(str(tmp_path / "ft" / "finetune"))
    acc.Reload()
    assert [e.step for e in acc.Scalars("finetune_random_init_3_per_class/train_loss")] == [1, 2]
    assert "finetune_random_init_3_per_class/top1" in acc.Tags()["scalars"]

    code = finetune.main(["-l", "assets/experiments/quickstart.yaml", "--random-init", "--fraction", "0.05",
                          "--epochs", "1", "--opts", *TINY, *logs])
    assert code == 0
    assert json.loads((tmp_path / "ft" / "finetune_random_init_0p05_of_labels.json").read_text())["labeled_size"] == 72

    code = finetune.main(["-l", "assets/experiments/quickstart.yaml", "--random-init", "--labels-per-class", "3",
                          "--epochs", "1", "--frozen", "--opts", *TINY, *logs])      # the layer alone: its own file
    assert code == 0 and "trained a linear layer on frozen random-init" in capsys.readouterr().out
    assert json.loads((tmp_path / "ft" / "finetune_random_init_3_per_class_frozen.json").read_text())["frozen"]


@pytest.mark.parametrize("args, says", [
    (["--labels-per-class", "0"], "--labels-per-class 0 must be >= 1"),
    (["--fraction", "1.5"], "--fraction 1.5 must be in (0, 1]"),
    (["--labels-per-class", "2", "--lr", "-1"], "--lr -1.0 must be a finite number > 0"),
    (["--labels-per-class", "2", "--lr", "nan"], "--lr nan must be a finite number > 0"),
    (["--labels-per-class", "2", "--lr", "inf"], "--lr inf must be a finite number > 0"),
    (["--labels-per-class", "2", "--batch", "1"], "--batch 1 must be >= 2"),
    (["--labels-per-class", "2"], "give --ckpt"),
    (["--labels-per-class", "5000"], "5000 labels per class: class 8 has only 139 labeled examples; ask for at most"),
])
def test_bad_arguments_are_one_line_errors(capsys, args, says):
    extra = ["--random-init", "-l", "assets/experiments/quickstart.yaml"] if says != "give --ckpt" else \
        ["-l", "assets/experiments/quickstart.yaml"]
    assert finetune.main([*extra, *args, "--opts", *TINY]) == 2
    err = capsys.readouterr().err
    assert says in err and len(err.strip().splitlines()) == 1


@pytest.mark.slow
def test_pretrained_encoder_beats_random_init_with_10_labels_per_class(first_run, capsys):
    """The paper's semi-supervised claim (Sec. 6) on digits: same labels, same network, same schedule."""
    assert first_run.result.returncode == 0, first_run.result.stderr
    scores = {}
    for extra in ([], ["--random-init"]):
        code = finetune.main(["--ckpt", str(first_run.saveDir), "--labels-per-class", "10", "--no-flip",
                              *extra, "--opts", "general.threads", "2",    # fixed: the same sums on a busy day
                              "general.logsDir", str(first_run.logDir.parent)])
        assert code == 0, capsys.readouterr().err
        name = "random_init" if extra else "encoder"
        result = json.loads((first_run.logDir / f"finetune_{name}_10_per_class.json").read_text())
        assert result["labeled_size"] == 100
        scores[name] = result["finetune_top1"]
    assert scores["encoder"] >= scores["random_init"] + 0.02, scores
