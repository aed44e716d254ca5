"""The linear-evaluation CLI: frozen encoder, baselines, few-label mode, outputs."""
import json

import pytest
import torch
import yaml

from train.config import load_config
from train.encoder_setup import build_encoder, split_features

pytestmark = pytest.mark.pipeline


SMALL = ["general.device", "cpu", "model.kwargs.baseChNo", "4", "model.latentChNo", "32",
         "data.imgSize", "8", "data.numWorkers", "0"]


def test_encoder_is_frozen_during_feature_extraction():
    cfg = load_config("assets/experiments/quickstart.yaml", SMALL)
    encoder = build_encoder(cfg, None, randomInit=True)
    assert not encoder.training and not any(p.requires_grad for p in encoder.parameters())
    seen = []
    encoder.register_forward_hook(lambda m, i, o: seen.append((m.training, torch.is_grad_enabled())))
    before = {k: v.clone() for k, v in encoder.state_dict().items()}
    feats, labels = split_features(cfg, encoder, "test", torch.device("cpu"))
    assert feats.shape == (359, 32) and labels.shape == (359,)
    assert seen and all(state == (False, False) for state in seen)  # eval mode, no grad
    assert all(torch.equal(before[k], v) for k, v in encoder.state_dict().items())  # BN stats untouched too


def test_random_init_cli_writes_json_with_baselines(tool, tmp_path):
    logs = ["general.logsDir", str(tmp_path), "general.name", "probe"]
    result = tool("train/linear_eval.py", "-l", "assets/experiments/quickstart.yaml", "--random-init",
                  "--opts", *SMALL, *logs)
    assert result.returncode == 0, result.stderr
    assert "linear_top1" in result.stdout and "pixels_linear_top1" in result.stdout
    data = json.loads((tmp_path / "probe" / "linear_eval_random_init.json").read_text())
    assert data["encoder"] == "random-init" and data["test_size"] == 359
    for key in ("linear_top1", "linear_top5", "knn_top1", "pixels_linear_top1"):
        assert 0.1 < data[key] <= 1.0
    assert data["linear_top5"] >= data["linear_top1"]
    assert list((tmp_path / "probe" / "linear_eval").glob("events.out.tfevents.*"))

    few = tool("train/linear_eval.py", "-l", "assets/experiments/quickstart.yaml", "--random-init",
               "--labels-per-class", "5", "--pixels", "off", "--opts", *SMALL, *logs)
    assert few.returncode == 0, few.stderr
    fewData = json.loads((tmp_path / "probe" / "linear_eval_random_init_5_per_class.json").read_text())
    assert fewData["probe_train_size"] == 50 and "pixels_linear_top1" not in fewData


def test_cli_errors(tool, tmp_path):
    missing = tool("train/linear_eval.py", "-l", "assets/experiments/quickstart.yaml", "--opts", *SMALL)
    assert missing.returncode == 2 and "--ckpt" in missing.stderr
    wrong = tool("train/linear_eval.py", "-l", "assets/experiments/quickstart.yaml",
                 "--ckpt", str(tmp_path / "none.pt"), "--opts", *SMALL)
    assert wrong.returncode == 2 and "does not exist" in wrong.stderr
    tsne = tool("train/tsne.py", "-l", "assets/experiments/quickstart.yaml", "--random-init",
                "--samples", "50", "--out", str(tmp_path / "t.png"), "--opts", *SMALL)
    assert tsne.returncode == 0, tsne.stderr
    assert (tmp_path / "t.png").stat().st_size > 1000
    again = tool("train/tsne.py", "-l", "assets/experiments/quickstart.yaml", "--random-init",
                 "--out", str(tmp_path / "t.png"), "--opts", *SMALL)
    assert again.returncode == 2 and "exists" in again.stderr


def test_evaluation_clis_work_from_the_checkpoint_alone(tool, tmp_path):
    from core.nn.networks.export import export_encoder
    from core.nn.utils.checkpoint import CKPT_FORMAT, atomic_save
    from train.builders import build_model
    from train.config import to_plain

    cfg = load_config("assets/experiments/quickstart.yaml",
                      SMALL + ["general.logsDir", str(tmp_path / "logs"), "general.name", "stored"])
    model = build_model(cfg.model)
    modelArgs = {"inChNo": model.inChNo, "latentChNo": model.latentChNo, "outChNo": model.outChNo,
                 **model.hparams()}
    atomic_save({"format": CKPT_FORMAT, "epoch": 1, "globalStep": 1, "stepInEpoch": 0, "model": model.state_dict(),
                 "modelArgs": modelArgs, "config": to_plain(cfg), "optimizer": {}, "scheduler": None, "scaler": None},
                tmp_path / "checkpoint_epoch0001.pt")
    probe = tool("train/linear_eval.py", "--ckpt", str(tmp_path / "checkpoint_epoch0001.pt"),
                 "--pixels", "off",
                 "--opts", "general.logsDir", str(tmp_path / "mine"))
    assert probe.returncode == 0, probe.stderr
    # a checkpoint outside its run's folder: the outputs go where the command says, under the stored run name
    assert (tmp_path / "mine" / "stored" / "linear_eval_checkpoint_epoch0001.json").is_file()
    assert not (tmp_path / "logs").exists()

    export_encoder(model.encoder, tmp_path / "export")
    (tmp_path / "export" / "config.yaml").write_text(yaml.safe_dump(to_plain(cfg)))   # as the trainer writes it
    tsne = tool("train/tsne.py", "--ckpt", str(tmp_path / "export"), "--samples", "30",
                "--out", str(tmp_path / "t.png"))
    assert tsne.returncode == 0, tsne.stderr
    bare = tmp_path / "bare"
    export_encoder(model.encoder, bare)
    noConfig = tool("train/tsne.py", "--ckpt", str(bare), "--out", str(tmp_path / "u.png"))
    assert noConfig.returncode == 2 and "give -l CONFIG" in noConfig.stderr


def test_a_foreign_checkpoint_does_not_choose_where_results_go(tool, tmp_path, monkeypatch):
    """Its stored general.logsDir (and, out of its own run folder, data.rootPath) never decide anything: even a
    checkpoint whose stored config names the folder it lies in (as its own run's would) writes to the defaults."""
    from core.nn.utils.checkpoint import CKPT_FORMAT, atomic_save
    from tests.conftest import REPO_ROOT
    from train.builders import build_model
    from train.config import to_plain

    elsewhere = tmp_path / "somewhere" / "else"
    cfg = load_config("assets/experiments/quickstart.yaml",
                      SMALL + ["general.logsDir", str(elsewhere), "general.saveDir", str(tmp_path / "ckpts"),
                               "general.name", "run", "data.rootPath", str(tmp_path / "their-data")])
    model = build_model(cfg.model)
    state = {"format": CKPT_FORMAT, "epoch": 1, "globalStep": 1, "stepInEpoch": 0, "model": model.state_dict(),
             "modelArgs": {"inChNo": model.inChNo, "latentChNo": model.latentChNo, "outChNo": model.outChNo,
                           **model.hparams()},
             "config": to_plain(cfg), "optimizer": {}, "scheduler": None, "scaler": None}
    downloaded = tmp_path / "downloads" / "checkpoint_epoch0001.pt"
    atomic_save(state, downloaded)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)                                     # the defaults are relative to where it runs
    probe = tool("train/linear_eval.py", "--ckpt", str(downloaded), "--pixels", "off")
    monkeypatch.chdir(REPO_ROOT)
    assert probe.returncode == 0, probe.stderr
    assert not elsewhere.exists() and not (tmp_path / "their-data").exists()
    assert (work / "assets" / "logs" / "run" / "linear_eval_checkpoint_epoch0001.json").is_file()   # the default
    own = tmp_path / "ckpts" / "run" / "checkpoint_epoch0001.pt"        # where its stored config says it lies
    atomic_save(state, own)
    (work / "assets" / "logs" / "run" / "linear_eval_checkpoint_epoch0001.json").unlink()
    monkeypatch.chdir(work)
    again = tool("train/linear_eval.py", "--ckpt", str(own), "--pixels", "off")
    monkeypatch.chdir(REPO_ROOT)
    assert again.returncode == 0, again.stderr
    assert not elsewhere.exists()
    assert (work / "assets" / "logs" / "run" / "linear_eval_checkpoint_epoch0001.json").is_file()
    there = tool("train/linear_eval.py", "--ckpt", str(own), "--pixels", "off", "--opts", "general.logsDir",
                 str(tmp_path / "chosen"))                                 # the user chooses, with --opts
    assert there.returncode == 0 and (tmp_path / "chosen" / "run" / "linear_eval_checkpoint_epoch0001.json").is_file()
