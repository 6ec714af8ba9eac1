"""README.md and the documentation site: they name only files that exist, the README fits on a few
screens, and the site builds with every link and anchor resolved."""

import os
import re
import subprocess
import sys

from tests.conftest import REPO_ROOT

TOP_LEVEL = {path.name for path in REPO_ROOT.iterdir() if not path.name.startswith(".git")} - {
    ".venv",
    "input",
    "outputs",
    ".state",
    ".cache",
}
PAGES = sorted((REPO_ROOT / "docs").glob("*.md"))


def repository_paths(text: str) -> set[str]:
    """Backticked names, and the words of shell blocks, that start with one of the repository's
    top-level files or folders."""
    names = {name for name in re.findall(r"`([^`\s]+)`", text) if "/" in name or "." in name}
    for block in re.findall(r"^```bash\n(.*?)^```", text, re.MULTILINE | re.DOTALL):
        words = (word.strip(",.;:()") for word in re.split(r"[\s'\"=]+", block))
        names |= {word for word in words if "/" in word}
    return {name for name in names if name.split("/")[0] in TOP_LEVEL}


def test_every_file_the_readme_and_the_docs_name_exists():
    named = repository_paths((REPO_ROOT / "README.md").read_text())
    assert "data/hospitals/hungary.csv" in named and "tests/e2e/test_readme_walkthrough.py" in named
    for page in PAGES:
        named |= repository_paths(page.read_text())
    assert "heart_batch/monitoring/no_change.py" in named
    assert [name for name in sorted(named) if not (REPO_ROOT / name).exists()] == []


def test_the_readme_fits_on_a_few_screens_and_links_every_page():
    readme = (REPO_ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 200
    linked = set(re.findall(r"\]\(docs/([a-z_]+\.md)\)", readme))
    assert linked == {page.name for page in PAGES} - {"index.md"}


def test_the_documentation_site_builds_with_every_link_resolved(tmp_path):
    built = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
        env=os.environ | {"NO_MKDOCS_2_WARNING": "1"},
    )
    assert built.returncode == 0, built.stderr[-3000:]
    assert (tmp_path / "monitoring" / "index.html").exists()
    assert "monitoring_alarm_rates.png" in (tmp_path / "monitoring" / "index.html").read_text()
