"""MkDocs hook: the pages the site adds to ``docs/`` when it is built.

- ``format-spec.md``: ``bitstreams/FORMAT.md``, the normative format text, as a page of its own
  (the file stays where it is and stays the only copy in the repository);
- links in the pages to repository files that the site includes (``../bitstreams/FORMAT.md``,
  which works on the code host) are pointed at their page, so ``mkdocs build --strict`` checks them;
- ``api/*.md``: the API reference, written from the docstrings by ``api_reference.py``.
"""

from __future__ import annotations

import posixpath
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import api_reference  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
#: repository files shown as pages of the site: path -> page
INCLUDED = {"bitstreams/FORMAT.md": "format-spec.md"}
_LINK = re.compile(r"\]\((?P<target>[^)\s#]+)(?P<anchor>#[^)\s]*)?\)")


def _included_page(target: str, page_src: str) -> str | None:
    """The site page a link written in ``page_src`` (a docs/ path) to ``target`` stands for."""
    if "://" in target:
        return None
    repo_path = posixpath.normpath(posixpath.join("docs", posixpath.dirname(page_src), target))
    return INCLUDED.get(repo_path)


def on_files(files, config):
    from mkdocs.structure.files import File

    for path, page in INCLUDED.items():
        text = (ROOT / path).read_text(encoding="utf-8")
        note = (f"\n\n*This page is `{path}` from the repository, the normative text; "
                f"[the overview](format.md) summarizes it.*\n")
        first, _, rest = text.partition("\n")
        files.append(File.generated(config, page, content=first + note + rest))
    for name, text in api_reference.pages().items():
        files.append(File.generated(config, f"api/{name}", content=text))
    return files


def on_page_markdown(markdown, page, config, files):
    def point(match):
        target = _included_page(match.group("target"), page.file.src_uri)
        if target is None:
            return match.group(0)
        relative = posixpath.relpath(target, posixpath.dirname(page.file.src_uri) or ".")
        return f"]({relative}{match.group('anchor') or ''})"

    return _LINK.sub(point, markdown)
