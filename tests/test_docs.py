"""The README and docs/: short front door, every generated table in place and up to date, links that resolve.

The tables themselves are written by ``benchmarks/update_docs.py`` from ``benchmarks/results``;
these tests fail when a table is stale (run that script), when a marker block is missing or
unknown, when the README outgrows its front-door size, or when a page links to nothing.  The
site build itself (``mkdocs build --strict``) runs in ``.ci/run``.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
README_MAX_LINES = 150
SETUP_COMMANDS = (
    'python3 -m venv .venv && .venv/bin/pip install -e ".[test]" && .venv/bin/ncodec demo',
    ".venv/bin/python -m pytest -q",
)


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def update_docs():
    return _load("update_docs_under_test", ROOT / "benchmarks" / "update_docs.py")


@pytest.fixture(scope="module")
def api_reference():
    return _load("api_reference_under_test", DOCS / "_hooks" / "api_reference.py")


def test_readme_is_a_short_front_door():
    lines = README.read_text().splitlines()
    assert len(lines) <= README_MAX_LINES, (
        f"README.md has {len(lines)} lines (at most {README_MAX_LINES}): move detail into docs/")


def test_readme_keeps_the_two_setup_commands_verbatim():
    blocks = re.findall(r"```bash\n(.*?)```", README.read_text(), re.S)
    commands = [line.strip() for block in blocks for line in block.splitlines()]
    for command in SETUP_COMMANDS:
        assert command in commands


def test_every_marker_block_is_present_known_and_balanced(update_docs):
    assert update_docs.problems() == []


def test_generated_blocks_are_up_to_date(update_docs):
    stale = []
    for page in update_docs.targets():
        text = page.read_text()
        if update_docs.fill(text, page, log=lambda message: None) != text:
            stale.append(str(page.relative_to(ROOT)))
    assert stale == [], f"run python benchmarks/update_docs.py: stale {stale}"


def test_a_missing_marker_block_is_reported(update_docs, monkeypatch):
    readme_text = README.read_text()
    without = re.sub(r"<!-- BEGIN codecs -->.*?<!-- END codecs -->", "", readme_text, flags=re.S)
    original = Path.read_text

    def read_text(self, *args, **kwargs):
        return without if self == README else original(self, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", read_text)
    assert any("README.md has no <!-- BEGIN codecs -->" in p for p in update_docs.problems())


def test_codec_table_lists_every_registered_codec_and_says_when_nothing_was_measured(update_docs, monkeypatch):
    from neuralcodecs import registry

    table = update_docs.codec_table(README)
    rows = [line for line in table.splitlines() if line.startswith("| [`") or line.startswith("| `")]
    assert len(rows) == len(registry.names())
    for name in registry.names():
        assert any(f"`{name}`" in row for row in rows)
    monkeypatch.setattr(update_docs, "RESULTS", ROOT / "no-such-results")  # nothing measured at all
    monkeypatch.setattr(update_docs, "_load", lambda name: None)
    empty = update_docs.codec_table(README)
    assert empty.count("no measured result yet") == len(registry.names())
    assert empty.count("not measured yet") == len(registry.names())


def _links(text: str) -> list[str]:
    text = re.sub(r"```.*?```", "", text, flags=re.S)  # code blocks hold no links
    return [m.group(1) for m in re.finditer(r"\]\(([^)\s]+)\)", text)]


def test_relative_links_resolve_on_the_code_host(api_reference):
    generated = {f"api/{name}" for name in api_reference.pages()}
    broken = []
    for page in [README, *sorted(DOCS.rglob("*.md"))]:
        for target in _links(page.read_text()):
            if "://" in target or target.startswith(("#", "mailto:")):
                continue
            path = target.split("#")[0]
            resolved = (page.parent / path).resolve()
            if resolved.exists():
                continue
            in_docs = resolved.relative_to(DOCS.resolve()).as_posix() if resolved.is_relative_to(DOCS.resolve()) else None
            if in_docs in generated:  # written when the site is built
                continue
            broken.append(f"{page.relative_to(ROOT)}: {target}")
    assert broken == []


def test_api_reference_covers_every_module_and_is_in_the_site_navigation(api_reference):
    pages = api_reference.pages()
    modules = {m.name for m in api_reference.read_package()}
    index = pages["index.md"]
    missing = [name for name in modules if f"[`{name}`]" not in index]
    assert missing == []
    nav = set(re.findall(r"api/([\w-]+\.md)", (ROOT / "mkdocs.yml").read_text()))
    assert nav == set(pages)


def test_docstring_markdown_understands_the_package_conventions(api_reference):
    doc = (
        "Read :func:`decode` and ``raw``; a <tag>.\n\n"
        "Args:\n    data: the bytes\n        of a file.\n    budget (int): tokens.\n\n"
        "=====  ==========\nname   what\n=====  ==========\n``a``  first\n       more\n=====  ==========\n\n"
        "Example::\n\n    x = 1\n"
    )
    text = api_reference.markdown_of(doc)
    assert "`decode`" in text and "`raw`" in text and "&lt;tag&gt;" in text
    assert "- `data`: the bytes of a file." in text and "- `budget` (int): tokens." in text
    assert "| `a` | first more |" in text
    assert "```python\nx = 1\n```" in text
