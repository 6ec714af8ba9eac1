"""README.md names only files that exist."""

import re

from tests.conftest import REPO_ROOT

TOP_LEVEL = {path.name for path in REPO_ROOT.iterdir() if not path.name.startswith(".git")} - {
    ".venv",
    "input",
    "outputs",
    ".state",
    ".cache",
}


def repository_paths(readme: str) -> set[str]:
    """Backticked names that start with one of the repository's top-level files or folders."""
    names = {name for name in re.findall(r"`([^`\s]+)`", readme) if "/" in name or "." in name}
    return {name for name in names if name.split("/")[0] in TOP_LEVEL}


def test_every_file_the_readme_names_exists():
    named = repository_paths((REPO_ROOT / "README.md").read_text())
    assert "data/heart.csv" in named and "tests/e2e/test_readme_walkthrough.py" in named
    assert [name for name in sorted(named) if not (REPO_ROOT / name).exists()] == []
