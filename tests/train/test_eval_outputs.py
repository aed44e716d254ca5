"""The evaluation CLIs' outputs: named after the checkpoint, kNN on the same few labels, a capped pixel
baseline with its time, progress bars, and the t-SNE figure in the run folder."""
import json

import numpy as np
import pytest
import torch

from core.eval.knn import knn_top1
from core.eval.classifier import linear_probe
from core.eval.subsets import few_labels
from tests.train.test_reliability import TINY, trained_run
from train import linear_eval, tsne
from train.config import load_config
from train.encoder_setup import build_encoder, split_features

pytestmark = pytest.mark.pipeline


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A 2-epoch tiny run with both checkpoints kept."""
    return trained_run(tmp_path_factory, "tiny", "train.epochs", "2")


def at(trained, *args):
    """``args`` with the run's logs folder as general.logsDir: the tools never take it from the checkpoint."""
    return [*args, "--opts", "general.logsDir", str(trained / "logs")]


def test_results_are_named_after_the_checkpoint(trained, capsys):
    ckpts = trained / "ckpt" / "tiny"
    for name in ("checkpoint_epoch0001.pt", "checkpoint_epoch0002.pt"):
        assert linear_eval.main(at(trained, "--ckpt", str(ckpts / name), "--pixels", "off")) == 0
    assert linear_eval.main(at(trained, "--ckpt", str(ckpts), "--pixels", "off", "--labels-per-class", "3")) == 0
    folder = trained / "logs" / "tiny"
    one, two = (json.loads((folder / f"linear_eval_checkpoint_epoch000{e}.json").read_text()) for e in (1, 2))
    assert one["encoder"].endswith("0001.pt") and two["encoder"].endswith("0002.pt")
    assert (folder / "linear_eval_encoder_3_per_class.json").is_file()


def test_few_label_knn_uses_the_same_labels_as_the_probe(trained, capsys):
    ckpt = trained / "ckpt" / "tiny" / "checkpoint_epoch0002.pt"
    assert linear_eval.main(at(trained, "--ckpt", str(ckpt), "--pixels", "off", "--labels-per-class", "2")) == 0
    result = json.loads((trained / "logs" / "tiny" / "linear_eval_checkpoint_epoch0002_2_per_class.json").read_text())
    cfg = load_config(None, [], base=torch.load(ckpt, weights_only=True)["config"])
    encoder = build_encoder(cfg, str(ckpt), False)
    bank, bankLabels = split_features(cfg, encoder, "memory", torch.device("cpu"))
    test, testLabels = split_features(cfg, encoder, "test", torch.device("cpu"))
    keep = few_labels(bankLabels.numpy(), 2)
    assert len(keep) == 20 and result["probe_train_size"] == 20
    assert result["knn_top1"] == pytest.approx(knn_top1(bank[keep], bankLabels[keep], test, testLabels,
                                                        cfg.log.knnK, cfg.log.knnT))
    assert "(20 labeled train" in capsys.readouterr().out


def test_pixel_baseline_is_capped_stratified_and_timed(trained, capsys, monkeypatch):
    monkeypatch.setattr(linear_eval, "PIXEL_TRAIN_MAX", 50)
    monkeypatch.setattr(linear_eval, "PIXEL_TEST_MAX", 40)
    assert linear_eval.main(at(trained, "--ckpt", str(trained / "ckpt" / "tiny"))) == 0
    out = capsys.readouterr().out
    result = json.loads((trained / "logs" / "tiny" / "linear_eval_encoder.json").read_text())
    assert result["pixels_train_size"] == 50 and result["pixels_test_size"] == 40 and result["pixels_capped"]
    assert result["pixels_seconds"] >= 0 and 0.1 < result["pixels_linear_top1"] <= 1
    assert "raw-pixel baseline" in out and "50 labeled / 40 test images (capped, stratified)" in out
    # equal terms: the probe of h is fitted again on exactly those images, and printed beside the pixels
    assert 0.1 < result["same_images_linear_top1"] <= 1 and "on those same images" in out
    from core.eval.classifier import linear_probe
    from core.eval.subsets import capped_subset
    from train.encoder_setup import encoder_from_args, split_features

    args = linear_eval.get_args_parser().parse_args(["--ckpt", str(trained / "ckpt" / "tiny")])
    cfg, device, encoder, _, _ = encoder_from_args(args)
    feats, labels = split_features(cfg, encoder, "memory", device)
    test, testLabels = split_features(cfg, encoder, "test", device)
    trainIdx, testIdx = capped_subset(labels.numpy(), 50), capped_subset(testLabels.numpy(), 40)
    want = linear_probe(feats[trainIdx], labels[trainIdx], test[testIdx], testLabels[testIdx])["top1"]
    assert result["same_images_linear_top1"] == pytest.approx(want)


def test_probe_fitting_and_extraction_show_progress(capsys):
    gen = torch.Generator().manual_seed(0)
    labels = torch.arange(300) % 3
    feats = torch.randn(300, 20, generator=gen) + torch.nn.functional.one_hot(labels, 20).float()
    quiet = linear_probe(feats[:200], labels[:200], feats[200:], labels[200:])
    shown = linear_probe(feats[:200], labels[:200], feats[200:], labels[200:], progress=True)
    assert "fitting the linear probe" in capsys.readouterr().err
    assert shown["top1"] == pytest.approx(quiet["top1"])
    cfg = load_config("assets/experiments/quickstart.yaml", TINY)
    split_features(cfg, torch.nn.Flatten(), "test", torch.device("cpu"), indices=np.arange(20), progress=True)
    assert "features of test" in capsys.readouterr().err


def test_tsne_goes_to_the_logs_folder_of_the_run_name_by_default(trained, capsys):
    ckpt = trained / "ckpt" / "tiny" / "checkpoint_epoch0001.pt"
    assert tsne.main(at(trained, "--ckpt", str(ckpt), "--samples", "40")) == 0
    assert (trained / "logs" / "tiny" / "tsne_checkpoint_epoch0001.png").stat().st_size > 1000
    assert tsne.main(at(trained, "--ckpt", str(ckpt), "--samples", "40")) == 2          # never overwritten
    assert "exists; choose --out, or pass --force to replace it" in capsys.readouterr().err
    assert tsne.main(at(trained, "--ckpt", str(ckpt), "--samples", "40", "--force")) == 0


def test_an_earlier_result_is_kept_unless_forced(trained, capsys):
    ckpt = str(trained / "ckpt" / "tiny" / "checkpoint_epoch0002.pt")
    result = trained / "logs" / "tiny" / "linear_eval_checkpoint_epoch0002_2_per_class.json"
    assert linear_eval.main(at(trained, "--ckpt", ckpt, "--pixels", "off", "--labels-per-class", "2",
                               "--force")) == 0
    first = result.read_text()
    capsys.readouterr()
    assert linear_eval.main(at(trained, "--ckpt", ckpt, "--pixels", "off", "--labels-per-class", "2")) == 2
    err = capsys.readouterr().err
    assert f"{result} exists (an earlier linear_eval of this encoder); pass --force to replace it" in err
    assert len(err.strip().splitlines()) == 1 and result.read_text() == first


@pytest.mark.parametrize("make, says", [
    (lambda tmp: (tmp / "t9.png").write_bytes(b"earlier") and tmp / "t9", "t9.png: exists"),   # .png added first
    (lambda tmp: (tmp / "afile").write_text("x") and tmp / "afile" / "t.png", "is a file, not a folder"),
])
def test_tsne_checks_its_output_before_computing(tmp_path, capsys, make, says):
    out = make(tmp_path)
    assert tsne.main(["--random-init", "-l", "assets/experiments/quickstart.yaml", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert says in err and len(err.strip().splitlines()) == 1
    assert (tmp_path / "t9.png").read_bytes() == b"earlier" if (tmp_path / "t9.png").exists() else True


def test_results_with_nan_are_refused_and_the_earlier_result_kept(tmp_path):
    from core.errors import UserInputError
    from train.results import write_result

    good = write_result(tmp_path, "finetune", "finetune_x", {"top1": 0.9}, {"top1": 0.9})
    with pytest.raises(UserInputError, match="NaN or infinite"):
        write_result(tmp_path, "finetune", "finetune_x", {"top1": float("nan")}, {})
    assert json.loads(good.read_text()) == {"top1": 0.9}


def test_tsne_refuses_too_few_samples(capsys):
    assert tsne.main(["--random-init", "-l", "assets/experiments/quickstart.yaml", "--samples", "0"]) == 2
    err = capsys.readouterr().err
    assert "--samples 0 must be >= 5" in err and len(err.strip().splitlines()) == 1


def tamper(folder, spec=None, config=None, weights=None):
    """Write an exported encoder's files as a foreign or edited copy would have them."""
    if spec is not None:
        (folder / "encoder.json").write_text(spec)
    if config is not None:
        (folder / "config.yaml").write_text(config)
    if weights is not None:
        (folder / "encoder.pt").write_bytes(weights)


FOREIGN = [
    (dict(spec="[1, 2]"), "encoder.json' is a list, not a mapping of ResNet arguments"),
    (dict(spec='{"inChNo": 3, "outChNo": 32, "evil": 1}'),
     "the arguments in its encoder.json are refused: ResNet: unknown hyperparam"),
    (dict(spec='{"inChNo": 3, "outChNo": 32, "norm": "__class__"}'), "norm='__class__' is not a conv normalization"),
    (dict(spec='{"inChNo": 3, "outChNo": "32"}'), "outChNo='32' must be an integer in [1, 65536]"),
    (dict(spec='{"inChNo": 3, "outChNo": 1000000000000}'), "outChNo=1000000000000 must be an integer in [1, 65536]"),
    # within the per-field caps, ~0.7 TB in all: compared with the weights' shapes before anything is allocated
    (dict(spec='{"inChNo": 3, "outChNo": 65536, "baseChNo": 8192}'), "the weights do not fit its encoder.json: "),
    (dict(config="- a\n- b\n"), "config.yaml' is a list, not a mapping of config sections"),
    (dict(config="model:\n  outChNo: .inf\n"), "its stored config is refused: model.outChNo=inf has type float"),
    (dict(weights=b""), "is not a readable checkpoint"),
    (dict(weights=b"garbage bytes"), "is not a readable checkpoint"),
]


@pytest.mark.parametrize("files, says", FOREIGN, ids=[str(f)[:40] for f, _ in FOREIGN])
def test_a_foreign_or_edited_encoder_is_one_line_in_every_tool(trained, tmp_path, capsys, files, says):
    import shutil

    from train import finetune

    folder = tmp_path / "copy"
    shutil.copytree(trained / "ckpt" / "tiny", folder)
    tamper(folder, **files)
    logs = ["--opts", "general.logsDir", str(tmp_path / "logs")]
    for tool, extra in ((linear_eval, ["--pixels", "off"]), (tsne, []), (finetune, ["--labels-per-class", "2"])):
        assert tool.main(["--ckpt", str(folder), *extra, *logs]) == 2, tool.__name__
        err = capsys.readouterr().err
        assert says in err and len(err.strip().splitlines()) == 1, (tool.__name__, err)
    assert not (tmp_path / "logs").exists()


def test_evaluation_outputs_are_checked_before_computing(trained, tmp_path, capsys):
    from train import finetune

    ckpt = str(trained / "ckpt" / "tiny")
    (tmp_path / "afile").write_text("a file where the logs folder goes")
    for tool, extra in ((linear_eval, ["--pixels", "off"]), (finetune, ["--labels-per-class", "2"])):
        assert tool.main(["--ckpt", ckpt, *extra, "--opts", "general.logsDir", str(tmp_path / "afile")]) == 2
        err = capsys.readouterr().err
        assert "is a file, not a folder" in err and len(err.strip().splitlines()) == 1
    run = tmp_path / "logs" / "tiny"
    (run / "linear_eval_encoder.json").mkdir(parents=True)          # a folder where the JSON goes
    assert linear_eval.main(["--ckpt", ckpt, "--pixels", "off", "--opts", "general.logsDir",
                             str(tmp_path / "logs")]) == 2
    assert "linear_eval_encoder.json: is a folder" in capsys.readouterr().err
