"""The README and the pages in docs/: every relative link reaches a file and a heading that exist."""
import re
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
