"""The one table of the trainer's promise for bad input: exit 2, one line naming the value, nothing written.

Each row runs ``train.main.main`` in-process (the same code path as the command line, without the
interpreter start-up); ``tests/train/test_main_cli.py`` checks the real command once.
"""
import pytest

from tests.train.test_reliability import train_args

pytestmark = pytest.mark.pipeline

CASES = [
    # config keys, types and ranges
    (["train.epochz", "3"], "unknown config key 'train.epochz'"),
    (["train.epochs", "many"], "train.epochs='many' has type str; expected int"),
    (["train.epochz", "3", "--opts", "train.epochs", "1"], "unknown config key 'train.epochz'"),   # groups add up
    (["loss.temperature", "-1"], "loss.temperature=-1.0 is invalid; it must be > 0"),
    (["loss.temperature", "1e999"], "loss.temperature=inf is invalid; it must be a finite number"),
    (["optimizer.lr", "1e999"], "optimizer.lr=inf is invalid; it must be a finite number"),
    (["general.name", "   "], "general.name='   ' is invalid; it must be a folder name"),
    (["general.name", "a\nb"], "general.name='a\\nb' is invalid; text may not hold control characters"),
    (["data.rootPath", "a\0b"], "data.rootPath='a\\x00b' is invalid; text may not hold control characters"),
    (["data.imgSize", "[16, 0]"], "data.imgSize=[16, 0] is invalid; it must be an integer >= 2 or an [H, W]"),
    (["data.imgSize", "1"], "data.imgSize=1 is invalid; it must be an integer >= 2 or an [H, W]"),
    # beyond what this machine can run (a thread library that cannot map 100,000 stacks, a fork storm)
    (["general.threads", "100000"], "general.threads=100000 is invalid; it must be in [0, "),
    (["data.numWorkers", "100000"], "data.numWorkers=100000 is invalid; it must be in [0, "),
    # names looked up in a registry
    (["optimizer.name", "Adagrad"], "optimizer.name='Adagrad' is not supported; accepted: "
                                    "['Adam', 'AdamW', 'SGD', 'LARS']"),
    (["data.dataset", "MNIST"], "data.dataset='MNIST' is not supported"),
    (["optimizer.schedPack", "os"], "optimizer.schedPack='os' is not allowed; only 'torch.optim.lr_scheduler'"),
    (["optimizer.scheduler", "Warmup"], "optimizer.scheduler='Warmup' is not supported; accepted: ['WarmupCosine'"),
    (["model.kwargs.norm", "BatchNorm"], "norm='BatchNorm' is not a conv normalization; accepted: ['BatchNorm2d'"),
    (["model.kwargs.activ", "Relu"], "activ='Relu' is not supported; accepted: ['ReLU'"),
    (["model.kwargs.nrom", "'BatchNorm2d'"], "SimCLR: unknown hyperparameter(s) ['nrom']"),
    # values of the right type that the model or the scheduler cannot use
    (["model.kwargs.activKwargs", "{'inplace': True, 'evil': 1}"],
     "activKwargs: torch.nn.ReLU takes no argument(s) ['evil']"),
    (["model.kwargs.normKwargs", "{'eps': 'x'}"], "normKwargs: eps='x' does not fit torch.nn.BatchNorm2d"),
    (["model.outChNo", "1000000000000"], "outChNo=1000000000000 must be an integer in [1, 65536]"),
    (["model.kwargs.mlpLayers", "['a']"], "layerCfg[0]='a' must be an integer in [1, 65536]"),
    (["optimizer.scheduler", "StepLR", "optimizer.schedKwargs", "{'step_size': 'a'}"],
     "optimizer.schedKwargs: step_size='a' does not fit StepLR"),
    (["optimizer.scheduler", "MultiStepLR", "optimizer.schedKwargs", "{'milestones': 'abc'}"],
     "optimizer.schedKwargs: milestones='abc' does not fit MultiStepLR"),
    (["train.trainBatch", "5000"], "train.trainBatch=5000 is larger than the training set"),
    # data and folders
    (["data.dataset", "ImageFolder", "data.rootPath", "{tmp}/empty"], "ImageFolder: no readable image"),
    (["data.dataset", "CIFAR10", "data.rootPath", "{tmp}/data", "data.download", "False", "data.imgSize", "32"],
     "CIFAR10 is not in '{tmp}/data' and data.download is off; download "
     "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz and put cifar-10-python.tar.gz in '{tmp}/data'"),
    (["general.logsDir", "{tmp}/afile/logs"], "cannot create {tmp}/afile/logs"),
    (["general.saveDir", "{tmp}/afile/ckpt"], "cannot create {tmp}/afile/ckpt"),
]


@pytest.mark.parametrize("extra, message", CASES, ids=[" ".join(extra)[:60] for extra, _ in CASES])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, capsys, extra, message):
    from train import main as train_main

    (tmp_path / "empty").mkdir()
    (tmp_path / "afile").write_text("a file, not a folder")
    extra = [e.replace("{tmp}", str(tmp_path)) for e in extra]
    code = train_main.main(train_args(tmp_path, "bad", *extra)[2:])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("error: " + message.replace("{tmp}", str(tmp_path))), err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "logs").exists() and not (tmp_path / "ckpt").exists()
