"""Fixtures of the training tests: the README's quickstart, run once per session for the slow tests."""
from types import SimpleNamespace

import pytest

from tests.conftest import run_cli


@pytest.fixture(scope="session")
def quickstart_run(tmp_path_factory):
    """The README's quickstart command unchanged (outputs redirected to a temporary folder), run once.

    Returns:
        ``result`` (the CompletedProcess), ``opts`` (the --opts used), ``saveDir`` (its checkpoint folder).
    """
    tmp = tmp_path_factory.mktemp("quickstart")
    opts = ["general.logsDir", str(tmp / "logs"), "general.saveDir", str(tmp / "ckpt")]
    result = run_cli("train/main.py", "-l", "assets/experiments/quickstart.yaml", "--opts", *opts)
    return SimpleNamespace(result=result, opts=opts, saveDir=tmp / "ckpt" / "quickstart",
                           logDir=tmp / "logs" / "quickstart")
