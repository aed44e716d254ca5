"""The project's own flake8 rules (``tests/flake8_safety.py``) run through flake8 with ``setup.cfg``."""
import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT

SAMPLES = {
    "SIM101": "value = eval(text)\n",
    "SIM102": "import yaml\n\ndata = yaml.load(text, Loader=yaml.Loader)\n",
    "SIM103": "module = __import__(name)\n",
    "SIM104": "import importlib\n",
}


def flake8(path):
    return subprocess.run([sys.executable, "-m", "flake8", "--select", "SIM", str(path)], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("code", SAMPLES)
def test_flake8_reports_code_that_runs_what_a_file_says(code):
    path = REPO_ROOT / "train" / f"_lint_sample_{code}.py"      # under train/: where the rules apply
    path.write_text("text = name = ''\n" + SAMPLES[code])
    try:
        result = flake8(path)
    finally:
        path.unlink()
    assert result.returncode == 1 and f" {code} " in result.stdout, result.stdout + result.stderr


def test_safe_code_passes_and_the_project_is_clean(tmp_path):
    path = REPO_ROOT / "train" / "_lint_sample_safe.py"
    path.write_text("import yaml\n\ndata = yaml.safe_load('a: 1')\nvalue = evaluate = 3\n")
    try:
        assert flake8(path).returncode == 0
    finally:
        path.unlink()
    result = flake8(REPO_ROOT)
    assert result.returncode == 0, result.stdout
