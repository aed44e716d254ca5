"""The README and the pages in docs/: links reach what exists, the front page stays short, snippets run.

The solution's documentation only (the starter ships docs/tasks.md alone, and not this file).
"""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
PAGES = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")


def slug(heading):
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(page):
    text, inCode, found = page.read_text(), False, set()
    for line in text.splitlines():
        if line.startswith("```"):
            inCode = not inCode
        elif not inCode and (match := re.match(r"#{1,6} (.*)", line)):
            found.add(slug(match[1]))
    return found


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(REPO_ROOT).as_posix())
def test_links_reach_existing_files_and_headings(page):
    broken = []
    for target in LINK.findall(page.read_text()):
        if re.match(r"[a-z]+://", target):
            continue
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists():
            broken.append(target)
        elif anchor and file.suffix == ".md" and anchor not in anchors(file):
            broken.append(target)
    assert not broken, f"{page.name}: broken links {broken}"


def test_the_front_page_stays_a_front_page():
    readme = (REPO_ROOT / "README.md").read_text()
    assert len(readme) <= 15000, len(readme)
    for page in ("docs/tasks.md", "docs/instructors.md", "docs/training.md", "docs/evaluation.md",
                 "docs/performance.md"):
        assert f"]({page}" in readme, page


def docs_block(heading, page="docs/evaluation.md"):
    """The first ```python block of the section ``heading`` of a documentation page."""
    text = (REPO_ROOT / page).read_text()
    section = text.split(f"\n## {heading}\n", 1)[1]
    return section.split("```python\n", 1)[1].split("```", 1)[0]


@pytest.mark.slow
@pytest.mark.pipeline
def test_the_encoder_snippet_runs_as_written(first_run, tmp_path):
    """'Using the pretrained encoder' from a folder laid out like the repository after the quickstart."""
    assert first_run.result.returncode == 0, first_run.result.stderr
    (tmp_path / "assets" / "checkpoints").mkdir(parents=True)
    (tmp_path / "assets" / "checkpoints" / "quickstart").symlink_to(first_run.saveDir)   # same architecture
    script = tmp_path / "snippet.py"
    script.write_text(docs_block("Using the pretrained encoder"))
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr
    assert "torch.Size([32, 128])" in done.stdout


# ---------------------------------------------------------------- every command and snippet of the pages
COMMAND_PAGES = [*PAGES, REPO_ROOT / "core" / "course" / "starter" / "student_readme.md"]
EVAL_TOOLS = ("train/linear_eval.py", "train/finetune.py", "train/tsne.py")
# Commands the pages show that this suite does not run, and why (a new kind of command must be added here).
NOT_RUN_HERE = {
    "pip": "the install: .ci/run installs exactly as the README says, in a fresh virtual environment",
    "python3 -m venv": "the install (.ci/run)", "python -m venv": "the install (.ci/run)",
    "source": "the install (.ci/run)", ".": "the install (.ci/run)", "cd": "moves the shell only",
    "tensorboard": "a server that runs until stopped",
    "mkdir": "instructors' trial of the archive: test_the_instructors_trial_of_the_archive_runs_as_written",
    "unzip": "instructors' trial", "cp": "instructors' trial", "SIMCLR_GRADESCOPE_ROOT=/tmp/ag": "instructors' trial",
    "python -m json.tool": "instructors' trial",
    "head=$(scontrol": "SLURM's own variables",
    "bash benchmarks/gpu_check.sh": "a GPU check (its dry run: tests/benchmarks)",
    "bash benchmarks/gpu_wheels.sh": "downloads wheels for an offline GPU machine",
}


def doc_commands():
    """``(page, command)`` for every command of every ```bash block: continuations joined, comments and ``&&``
    split off."""
    import shlex

    found = []
    for page in COMMAND_PAGES:
        for block in re.findall(r"```bash\n(.*?)```", page.read_text(), re.S):
            for line in re.sub(r"\\\n\s*", " ", block).splitlines():
                if line.strip().startswith("#"):
                    continue
                for part in line.split("&&"):
                    words = shlex.split(part, comments=True)
                    if words:
                        found.append((page.relative_to(REPO_ROOT).as_posix(), words))
    return found


def script_of(words):
    """``(script or module, its arguments)`` of a python / torchrun / srun command line, else None."""
    while words and words[0] in ("srun",):
        words = words[1:]
    if words[0] == "torchrun":
        first = next(i for i, w in enumerate(words) if w.endswith(".py"))
        return words[first], words[first + 1:]
    if words[0] in ("python", "python3") and len(words) > 1:
        if words[1] == "-m" and words[2] in ("core.starter", "core.grade", "pytest"):
            return words[2], words[3:]
        if words[1].endswith(".py"):
            return words[1], words[2:]
    return None


def test_every_command_of_the_pages_is_known():
    unknown = []
    for page, words in doc_commands():
        line = " ".join(words)
        if script_of(words) is None and not any(line.startswith(prefix) for prefix in NOT_RUN_HERE):
            unknown.append(f"{page}: {line}")
    assert not unknown, unknown
    assert len(doc_commands()) > 40


def flags_of(arguments):
    return [w.split("=")[0] for w in arguments if w.startswith("--")]


def module_of(script):
    """The importable module of a script or ``-m`` target."""
    return script[:-3].replace("/", ".") if "/" in script else script


@pytest.mark.parametrize("page, words", [c for c in doc_commands() if script_of(c[1])],
                         ids=lambda value: value if isinstance(value, str) else " ".join(value)[:80])
def test_every_command_of_the_pages_takes_its_arguments(page, words, capsys, monkeypatch):
    """Training commands check their whole config (``--print-config``: the YAML, every ``--opts`` key and value,
    one build of the model); every other command its flags, against the tool's own parser (its ``--help``)."""
    import importlib
    import inspect

    script, arguments = script_of(words)
    monkeypatch.chdir(REPO_ROOT)
    if script == "pytest":
        from core.course.tasks import MARKERS, OPTIONAL_MARKERS

        expression = arguments[arguments.index("-m") + 1] if "-m" in arguments else ""
        names = set(re.findall(r"\w+", expression)) - {"and", "or", "not"}
        assert names <= set(MARKERS) | set(OPTIONAL_MARKERS) | {"slow", "pipeline", "inprocess"}, names
        return
    tool = importlib.import_module(module_of(script))
    if script == "train/main.py":
        code = tool.main([*arguments, "--print-config"])
        out, err = capsys.readouterr()
        assert code == 0 and "general:" in out, f"{page}: {' '.join(words)}\n{err}"
        return
    argv = [*arguments, "--help"]
    monkeypatch.setattr(sys, "argv", [script, *argv])
    with pytest.raises(SystemExit) as stopped:
        tool.main(argv) if inspect.signature(tool.main).parameters else tool.main()   # benchmarks read sys.argv
    out, err = capsys.readouterr()
    assert stopped.value.code == 0, f"{page}: {' '.join(words)}\n{err[-2000:]}"
    missing = [flag for flag in flags_of(arguments) if flag not in out]
    assert not missing, f"{page}: {' '.join(words)}: {missing} unknown to {script}"


def evaluation_folder(first_run, tmp_path):
    """A folder laid out like the repository after the quickstart: the pages' paths as written."""
    (tmp_path / "assets").mkdir()
    (tmp_path / "assets" / "experiments").symlink_to(REPO_ROOT / "assets" / "experiments")
    quickstart = tmp_path / "assets" / "checkpoints" / "quickstart"     # the first run's, same architecture
    quickstart.mkdir(parents=True)
    for path in first_run.saveDir.iterdir():
        (quickstart / path.name).symlink_to(path)
    newest = sorted(first_run.saveDir.glob("checkpoint_epoch*.pt"))[-1]
    (quickstart / "checkpoint_epoch0080.pt").symlink_to(newest)
    (tmp_path / "train").symlink_to(REPO_ROOT / "train")
    return tmp_path


@pytest.mark.slow
@pytest.mark.pipeline
def test_the_evaluation_commands_run_as_written(first_run, tmp_path):
    assert first_run.result.returncode == 0, first_run.result.stderr
    folder = evaluation_folder(first_run, tmp_path)
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), OMP_NUM_THREADS="2")
    ran = 0
    for page, words in doc_commands():
        found = script_of(words)
        if found and found[0] in EVAL_TOOLS:
            done = subprocess.run([sys.executable, found[0], *found[1]], cwd=folder, env=env, capture_output=True,
                                  text=True, timeout=600, stdin=subprocess.DEVNULL)
            assert done.returncode == 0, f"{page}: {' '.join(words)}\n{done.stderr[-2000:]}"
            ran += 1
    assert ran >= 8


@pytest.mark.pipeline
def test_the_task_pages_snippets_run_in_order():
    """docs/tasks.md's API snippets, with the names they take as given (an image, a config, batches)."""
    import numpy as np
    import torch

    from train.config import load_config

    text = (REPO_ROOT / "docs" / "tasks.md").read_text()
    snippets = re.findall(r"```python\n(.*?)```", text, re.S)
    assert len(snippets) == 3
    given = {"image": np.zeros((40, 48, 3), np.uint8), "cfg": load_config("assets/experiments/quickstart.yaml"),
             "images": torch.randn(4, 3, 32, 32), "viewsA": torch.randn(4, 3, 32, 32),
             "viewsB": torch.randn(4, 3, 32, 32)}
    exec(snippets[0], given)                                              # noqa: S102  (the page's own code)
    assert given["view1"].shape == (3, 32, 32) and given["view2"].dtype == torch.float32
    exec(snippets[1], given)                                              # noqa: S102
    assert given["h"].shape[0] == 4 and given["z"].shape == (4, given["cfg"].model.outChNo)
    exec(snippets[2], given)                                              # noqa: S102
    assert given["value"].dim() == 0


@pytest.mark.slow
def test_the_torchvision_snippet_runs_as_written(tmp_path):
    """'torchvision' in docs/evaluation.md, on an encoder exported as base_simclr.yaml's model would be."""
    from core.nn.networks.export import export_encoder
    from train.builders import build_model
    from train.config import load_config

    cfg = load_config("assets/experiments/base_simclr.yaml", ["general.device", "cpu"])
    export_encoder(build_model(cfg.model).encoder, tmp_path / "assets" / "checkpoints" / "base_simclr")
    block = [b for b in re.findall(r"```python\n(.*?)```", (REPO_ROOT / "docs" / "evaluation.md").read_text(), re.S)
             if "torchvision_resnet" in b]
    assert len(block) == 1
    script = tmp_path / "snippet.py"
    script.write_text(block[0] + "print(model(torch.randn(2, 3, 32, 32)).shape)\n")
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=dict(os.environ, PYTHONPATH=str(REPO_ROOT)),
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "torch.Size([2, 10])" in done.stdout


@pytest.mark.slow
def test_the_instructors_trial_of_the_archive_runs_as_written(tmp_path):
    """docs/instructors.md, 'Try the archive on your own machine first', with its two paths moved into tmp.

    As the page says: as root the student's code runs as another user, who must be able to run this Python
    and reach the folder (so the folder is one every user can traverse); where that user cannot run it,
    every task says why and nothing is graded as root.
    """
    import shutil
    import tempfile

    from tests.core.course.starter.test_grading_isolation import SEPARATE

    text = (REPO_ROOT / "docs" / "instructors.md").read_text()
    section = text.split("### Try the archive on your own machine first\n", 1)[1]
    block = section.split("```bash\n", 1)[1].split("```", 1)[0]
    archive = tmp_path / "simclr_autograder.zip"
    subprocess.run([sys.executable, "-m", "core.starter", str(tmp_path / "starter"), "--autograder", str(archive)],
                   cwd=REPO_ROOT, check=True, capture_output=True, timeout=600)
    trial = Path(tempfile.mkdtemp(prefix="simclr-trial-"))
    trial.chmod(0o755)
    try:
        script = block.replace("/tmp/ag", str(trial / "ag")).replace("../simclr_autograder.zip", str(archive))
        done = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=REPO_ROOT, capture_output=True,
                              text=True, timeout=900,
                              env=dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}"))
    finally:
        shutil.rmtree(trial, ignore_errors=True)
    assert done.returncode == 0, done.stderr[-2000:]
    if os.geteuid() != 0 or SEPARATE:
        assert '"score": 100' in done.stdout, done.stdout[-2000:]
    else:
        assert '"score": 0' in done.stdout and "must run the student's code as another user" in done.stdout


def test_the_quickstart_figures_are_the_newest_measured_row():
    """README's quickstart sentence and Results row, and performance.md, quote benchmarks/results.csv's newest
    quickstart row (written by benchmarks/bench_quality.py with its date)."""
    import csv

    rows = [r for r in csv.DictReader((REPO_ROOT / "benchmarks" / "results.csv").open())
            if r["experiment"] == "assets/experiments/quickstart.yaml"]
    newest = max(rows, key=lambda r: r["date"] if r["date"][:2] == "20" else "")
    readme = (REPO_ROOT / "README.md").read_text()
    quickstart = readme.split("## Quickstart", 1)[1].split("## Install", 1)[0]
    assert f"{newest['wall_s']} s of pretraining" in quickstart and f"**{newest['knn_top1']}**" in quickstart
    assert f"against {newest['random_knn_top1']} for the untrained network" in quickstart
    row = next(line for line in readme.splitlines() if line.startswith("| Digits"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[4:] == [f"{newest['wall_s']} s", "2-core AMD EPYC CPU", newest["knn_top1"], newest["linear_top1"],
                         f"{newest['random_knn_top1']} / {newest['random_linear_top1']}", newest["pixels_linear_top1"]]
    assert f"Measured on {newest['date']}" in readme
    performance = (REPO_ROOT / "docs" / "performance.md").read_text().split("## A shared", 1)[0]
    assert f"{newest['date']}: **{newest['wall_s']} s**" in performance and f"**{newest['knn_top1']}**" in performance


def test_the_project_layout_names_files_that_exist():
    readme = (REPO_ROOT / "README.md").read_text()
    block = readme.split("## Project layout\n", 1)[1].split("```\n", 2)[1]
    files = {p.relative_to(REPO_ROOT).as_posix() for p in REPO_ROOT.rglob("*")
             if not {".git", ".venv", ".venv-sys", "__pycache__"} & set(p.relative_to(REPO_ROOT).parts)}
    named = set(re.findall(r"[\w/]+\.(?:py|yaml|md|sh)\b", block))
    named |= set(re.findall(r"^\s*([\w/]+/)\s", block, re.M))        # the folders that start a line
    missing = [name for name in named if not any(f == name.rstrip("/") or f.endswith("/" + name.rstrip("/"))
                                                 for f in files)]
    assert not missing, missing
    assert len(named) > 40
