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
