"""Config loading: YAML + --opts over the defaults, one-line errors naming the key."""
import pytest

from train.config import ConfigError, get_cfg_defaults, load_config, parse_opts


def write(tmp_path, text, name="exp.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_every_default_key_is_commented():
    source = open(get_cfg_defaults.__code__.co_filename).read()
    for line in source.splitlines():
        if line.startswith("_C.") and "CN(" not in line:
            assert "#" in line, f"uncommented config key: {line}"


def test_yaml_and_opts_merge_in_order(tmp_path):
    path = write(tmp_path, "train:\n  epochs: 7\noptimizer:\n  lr: 1\nmodel:\n  kwargs:\n    baseChNo: 8\n")
    cfg = load_config(path, ["train.epochs", "9", "general.amp", "False", "model.kwargs.mlpLayers", "[32, 16]"])
    assert cfg.train.epochs == 9
    assert cfg.optimizer.lr == 1.0 and isinstance(cfg.optimizer.lr, float)  # int accepted for a float
    assert cfg.general.amp is False  # a real bool, not the truthy string 'False'
    assert cfg.model.kwargs.baseChNo == 8 and cfg.model.kwargs.mlpLayers == [32, 16]
    assert cfg.is_frozen()


def test_the_shipped_experiments_load():
    for name in ("base_simclr", "quickstart"):
        cfg = load_config(f"assets/experiments/{name}.yaml")
        assert cfg.general.name == name


@pytest.mark.parametrize("text, match", [
    ("train:\n  epochz: 3\n", r"unknown config key 'train.epochz'"),
    ("trian:\n  epochs: 3\n", r"unknown config key 'trian'"),
    ("train:\n  epochs: three\n", r"train.epochs='three' has type str; expected int"),
    ("general:\n  amp: 1\n", r"general.amp=1 has type int; expected bool"),
    ("loss:\n  temperature: 0\n", r"loss.temperature=0.0 is invalid; it must be > 0"),
    ("data:\n  blur: maybe\n", r"data.blur='maybe' is invalid"),
    ("data:\n  augDevice: gpu\n", r"data.augDevice='gpu' is invalid; it must be one of \['cpu', 'cuda'\]"),
    ("train:\n  epochs: [1\n", r"exp.yaml: line \d+, column \d+ malformed YAML"),
    ("- a\n- b\n", r"top level must be a mapping"),
])
def test_bad_yaml_gives_one_line_error(tmp_path, text, match):
    with pytest.raises(ConfigError, match=match) as err:
        load_config(write(tmp_path, text))
    assert "\n" not in str(err.value)


def test_missing_file_and_odd_opts(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(str(tmp_path / "nope.yaml"))
    with pytest.raises(ConfigError, match="KEY VALUE pairs"):
        load_config(None, ["train.epochs"])


def test_unquoted_on_off_is_accepted_for_blur(tmp_path):
    assert load_config(write(tmp_path, "data:\n  blur: off\n")).data.blur == "off"
    assert load_config(None, ["data.blur", "on"]).data.blur == "on"


def test_parse_opts_keeps_plain_strings():
    assert parse_opts(["general.device", "cpu", "data.dataset", "ImageFolder", "x.y", "1e-3"]) == {
        "general": {"device": "cpu"}, "data": {"dataset": "ImageFolder"}, "x": {"y": 1e-3}}


def test_yaml_safe_loader_refuses_python_tags(tmp_path):
    path = write(tmp_path, "general:\n  name: !!python/object/apply:os.system ['echo hi']\n")
    with pytest.raises(ConfigError, match="malformed YAML"):
        load_config(path)


def test_none_works_for_string_keys_that_accept_it(tmp_path):
    cfg = load_config(None, ["optimizer.scheduler", "None"])
    assert cfg.optimizer.scheduler == "None"
    path = tmp_path / "exp.yaml"
    path.write_text("optimizer:\n  scheduler: null\n")
    assert load_config(str(path)).optimizer.scheduler == "None"
    with pytest.raises(ConfigError, match="train.epochs=None"):
        load_config(None, ["train.epochs", "None"])   # a number stays a number


@pytest.mark.parametrize("text, match", [
    ("train:\n  epochs: 3\n  epochs: 5\n", r"key 'epochs' appears twice in one section \(lines 2 and 3\)"),
    ("train: {epochs: 3}\ntrain: {epochs: 4}\n", r"key 'train' appears twice"),
])
def test_duplicate_keys_are_refused(tmp_path, text, match):
    path = tmp_path / "dup.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=match):
        load_config(str(path))


def test_alias_bomb_is_refused_quickly(tmp_path):
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i, name in enumerate("bcdefghi"):
        prev = "abcdefghi"[i]
        lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    path = tmp_path / "bomb.yaml"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ConfigError, match=r"bomb.yaml: its aliases \(\*name\) expand to [\d,]+ values; a config "
                                          r"may hold at most 100,000"):
        load_config(str(path))
    fine = tmp_path / "fine.yaml"
    fine.write_text("model:\n  kwargs:\n    mlpLayers: &w [64]\n    encoderStrides: [1, 1, 1, 2, 2, 2]\n"
                    "train:\n  epochs: 2\n")
    assert load_config(str(fine)).model.kwargs.mlpLayers == [64]


def test_binary_files_and_folders_are_named(tmp_path):
    binary = tmp_path / "model.pt"
    binary.write_bytes(b"\x80\x02\xff\xfe binary")
    with pytest.raises(ConfigError, match=r"model.pt' is not UTF-8 text"):
        load_config(str(binary))
    with pytest.raises(ConfigError, match="is a directory"):
        load_config(str(tmp_path))


@pytest.mark.parametrize("opts, match", [
    (["train.trainBatch", "1"], r"train.trainBatch=1 is invalid; it must be >= 2 per process"),
    (["log.knnK", "0"], r"log.knnK=0 is invalid"),
    (["log.knnT", "0.0"], r"log.knnT=0.0 is invalid; it must be > 0"),
    (["general.seed", "-1"], r"general.seed=-1 is invalid"),
    (["general.seed", str(2 ** 40)], r"general.seed=1099511627776 is invalid"),
    (["optimizer.momentum", "1.5"], r"optimizer.momentum=1.5 is invalid; it must be in \[0, 1\)"),
    (["optimizer.weightDecay", "-0.1"], r"optimizer.weightDecay=-0.1 is invalid"),
    (["model.inChNo", "1"], r"model.inChNo=1 is invalid; it must be 3"),
    (["general.name", "x" * 300], r"general.name='x+' is invalid; it must be at most 200 bytes"),
])
def test_values_checked_up_front(opts, match):
    with pytest.raises(ConfigError, match=match):
        load_config(None, opts)


def test_why_the_merge_is_not_yacs_own():
    """The reason written in ``train.config._merge``: yacs' merge refuses what this project's accepts."""
    from yacs.config import CfgNode

    cfg = get_cfg_defaults()
    with pytest.raises(ValueError, match="Type mismatch"):                       # an int for a float
        cfg.merge_from_other_cfg(CfgNode({"optimizer": {"lr": 1}}))
    with pytest.raises((AssertionError, KeyError)):                              # new_allowed is ignored
        get_cfg_defaults().merge_from_list(["model.kwargs.baseChNo", "4"])
    ours = load_config(None, ["optimizer.lr", "1", "model.kwargs.baseChNo", "4", "data.blur", "False"])
    assert ours.optimizer.lr == 1.0 and isinstance(ours.optimizer.lr, float)
    assert ours.model.kwargs.baseChNo == 4 and ours.data.blur == "off"


def test_yaml_merge_keys_are_supported_and_deep_nesting_refused(tmp_path):
    merged = tmp_path / "merge.yaml"
    merged.write_text("train:\n  <<: {epochs: 3, trainBatch: 8}\n  epochs: 5\n")      # the own key wins
    cfg = load_config(str(merged))
    assert (cfg.train.epochs, cfg.train.trainBatch) == (5, 8)
    deep = tmp_path / "deep.yaml"
    deep.write_text("train:\n  epochs: " + "[" * 1000 + "]" * 1000 + "\n")
    with pytest.raises(ConfigError, match="nested too deeply to be a config"):
        load_config(str(deep))
