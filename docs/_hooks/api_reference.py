"""The API reference: Markdown pages written from the docstrings of ``neuralcodecs``.

The package is read with :mod:`ast`, never imported, so writing the reference needs neither
torch nor any optional dependency, runs no package code, and sees exactly the source.
One page per sub-package (``api/entropy.md``, ``api/image.md``, ...) plus ``api/neuralcodecs.md``
for the package and its top-level modules, and ``api/index.md`` listing every module.

A module's public names are its ``__all__`` when it has one, otherwise every top-level function,
class and ``#:``-commented assignment whose name does not start with an underscore.
Docstrings are reStructuredText-flavoured with Google-style sections; :func:`markdown_of`
turns them into Markdown: ``literals``, ``:role:`target``` references (linked when the target
is in the reference), simple tables, section titles, ``::`` literal blocks, ``Args:`` sections.

The MkDocs hook ``docs/_hooks/mkdocs_hooks.py`` adds these pages to the site at build time.  Alone:

    python docs/_hooks/api_reference.py OUT      # writes OUT/index.md, OUT/neuralcodecs.md, ...
"""

from __future__ import annotations

import ast
import html
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "neuralcodecs"
TOP = "neuralcodecs"  # the page of the package itself and of its top-level modules
WIDTH = 88  # longer signatures are written one parameter per line


# --------------------------------------------------------------------------- reading the source


@dataclass
class Member:
    """One documented name: ``kind`` is module, function, class, method, property or attribute."""

    qualname: str
    kind: str
    signature: str = ""
    doc: str = ""
    members: list["Member"] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.qualname.rsplit(".", 1)[-1]


@dataclass
class Module:
    name: str
    path: Path
    doc: str
    members: list[Member]
    reexports: list[tuple[str, str]]  # (name, where it is defined) for __all__ names imported here

    @property
    def is_package(self) -> bool:
        return self.path.name == "__init__.py"

    @property
    def package(self) -> str:
        return self.name if self.is_package else self.name.rpartition(".")[0]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def page_of(module: str) -> str:
    """The page (without ``.md``) a module is documented on."""
    parts = module.split(".")
    if len(parts) == 1 or (PACKAGE / (parts[1] + ".py")).exists():
        return TOP
    return parts[1]


def _one_arg(arg: ast.arg, default: ast.expr | None) -> str:
    text = arg.arg
    if arg.annotation is not None:
        text += f": {ast.unparse(arg.annotation)}"
    if default is not None:
        text += (" = " if arg.annotation is not None else "=") + ast.unparse(default)
    return text


def signature(node: ast.FunctionDef | ast.AsyncFunctionDef, drop_first: bool = False) -> str:
    """``(a, b: int = 1, *, c=None) -> str`` of a function, without ``self``/``cls`` if asked."""
    a = node.args
    positional = a.posonlyargs + a.args
    defaults = [None] * (len(positional) - len(a.defaults)) + list(a.defaults)
    parts = []
    for i, (arg, default) in enumerate(zip(positional, defaults)):
        if not (drop_first and i == 0):
            parts.append(_one_arg(arg, default))
        if a.posonlyargs and i == len(a.posonlyargs) - 1:
            parts.append("/")
    if a.vararg:
        parts.append("*" + _one_arg(a.vararg, None))
    elif a.kwonlyargs:
        parts.append("*")
    parts += [_one_arg(arg, d) for arg, d in zip(a.kwonlyargs, a.kw_defaults)]
    if a.kwarg:
        parts.append("**" + _one_arg(a.kwarg, None))
    returns = f" -> {ast.unparse(node.returns)}" if node.returns is not None else ""
    one_line = f"({', '.join(parts)}){returns}"
    if len(node.name) + len(one_line) <= WIDTH or not parts:
        return one_line
    return "(\n" + "".join(f"    {p},\n" for p in parts) + f"){returns}"


def _decorators(node) -> set[str]:
    return {ast.unparse(d).split("(")[0].rsplit(".", 1)[-1] for d in node.decorator_list}


def _comment_doc(lines: list[str], lineno: int) -> str:
    """The ``#:`` comment lines right above line ``lineno`` (1-based), joined."""
    out = []
    i = lineno - 2
    while i >= 0 and lines[i].strip().startswith("#:"):
        out.insert(0, lines[i].strip()[2:].strip())
        i -= 1
    return " ".join(out)


def _assigned_names(node) -> list[str]:
    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
    return [t.id for t in targets if isinstance(t, ast.Name)]


def _class(node: ast.ClassDef, prefix: str, lines: list[str]) -> Member:
    bases = ", ".join(ast.unparse(b) for b in node.bases + node.keywords)
    init = next((n for n in node.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name == "__init__"),
                None)
    sig = f"class {node.name}" + (f"({bases})" if bases else "")
    if init is not None:
        sig += f"\n{node.name}{signature(init, drop_first=True)}"
    cls = Member(f"{prefix}.{node.name}", "class", sig, ast.get_docstring(node) or "")
    fields: list[str] = []
    for item in node.body:
        if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
            if item.name.startswith("_") and item.name != "__call__":
                continue
            decorators = _decorators(item)
            if decorators & {"property", "cached_property"}:
                returns = f": {ast.unparse(item.returns)}" if item.returns is not None else ""
                cls.members.append(Member(f"{cls.qualname}.{item.name}", "property", f"{item.name}{returns}",
                                          ast.get_docstring(item) or ""))
                continue
            if "setter" in decorators or "deleter" in decorators:
                continue
            static = "staticmethod" in decorators
            prefix_word = "classmethod " if "classmethod" in decorators else ("staticmethod " if static else "")
            cls.members.append(Member(f"{cls.qualname}.{item.name}", "method",
                                      f"{prefix_word}{item.name}{signature(item, drop_first=not static)}",
                                      ast.get_docstring(item) or ""))
        elif isinstance(item, (ast.Assign, ast.AnnAssign)):
            doc = _comment_doc(lines, item.lineno)
            for name in _assigned_names(item):
                if name.startswith("_"):
                    continue
                annotation = f": {ast.unparse(item.annotation)}" if isinstance(item, ast.AnnAssign) else ""
                value = f" = {ast.unparse(item.value)}" if item.value is not None else ""
                if doc:
                    cls.members.append(Member(f"{cls.qualname}.{name}", "attribute", f"{name}{annotation}{value}", doc))
                elif annotation:  # a field: shown in the class's signature
                    fields.append(f"    {name}{annotation}{value}")
    if fields:
        cls.signature = sig.split("\n")[0] + ":\n" + "\n".join(fields) + sig[len(sig.split("\n")[0]):]
    return cls


def read_module(path: Path) -> Module:
    source = path.read_text(encoding="utf-8")
    tree = ast.parse(source)
    lines = source.splitlines()
    name = module_name(path)
    exported = None
    imported: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and _assigned_names(node) == ["__all__"]:
            try:
                exported = [str(v) for v in ast.literal_eval(node.value)]
            except ValueError:
                exported = None
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = name if path.name == "__init__.py" else name.rpartition(".")[0]
                for _ in range(node.level - 1):
                    package = package.rpartition(".")[0]
                base = f"{package}.{base}" if base else package
            for alias in node.names:
                imported[alias.asname or alias.name] = f"{base}.{alias.name}"
    public = (lambda n: n in exported) if exported is not None else (lambda n: not n.startswith("_"))
    members = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and public(node.name):
            members.append(Member(f"{name}.{node.name}", "function", f"{node.name}{signature(node)}",
                                  ast.get_docstring(node) or ""))
        elif isinstance(node, ast.ClassDef) and public(node.name):
            members.append(_class(node, name, lines))
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            doc = _comment_doc(lines, node.lineno)
            for target in _assigned_names(node):
                if public(target) and target != "__all__" and (doc or exported is not None):
                    value = ast.unparse(node.value) if node.value is not None else ""
                    shown = value if len(value) <= 80 else value[:77] + "..."
                    members.append(Member(f"{name}.{target}", "attribute", f"{target} = {shown}" if shown else target, doc))
    defined = {m.name for m in members}
    reexports = [(n, imported[n]) for n in (exported or []) if n not in defined and n in imported]
    return Module(name, path, ast.get_docstring(tree) or "", members, reexports)


def read_package() -> list[Module]:
    """Every module of the package, each package before its modules, in name order."""
    paths = sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)
    modules = [read_module(p) for p in paths]
    return sorted(modules, key=lambda m: m.name.split("."))


# --------------------------------------------------------------------------- docstrings -> Markdown

_ROLE = re.compile(r":(?:py:)?(?P<role>[a-z]+):`(?P<body>[^`]+)`")
_LITERAL = re.compile(r"``(.+?)``")
_TABLE_BORDER = re.compile(r"^\s*=+( +=+)+\s*$")
_TITLE_UNDERLINE = re.compile(r"^\s*([=\-~^])\1{2,}\s*$")
_SECTION = re.compile(r"^(Args|Arguments|Parameters|Attributes|Returns|Yields|Raises|Example|Examples|Note|Notes):\s*$")
_BULLET = re.compile(r"^(\s*)([*\-+]|\d+\.) ")


class Linker:
    """Resolves ``:role:`target``` references to links into the reference (or to plain code)."""

    def __init__(self, modules: list[Module]):
        self.pages: dict[str, str] = {}
        self.packages = {m.name: m.is_package for m in modules}
        for module in modules:
            page = page_of(module.name)
            self.pages[module.name] = page
            stack = list(module.members)
            while stack:
                member = stack.pop()
                self.pages[member.qualname] = page
                stack += member.members

    def resolve(self, target: str, context: str) -> str | None:
        """The full name ``target`` means inside ``context`` (a module or member name), if documented."""
        target = target.strip().rstrip("()")
        if target.startswith("."):
            module = context
            while module not in self.packages and "." in module:
                module = module.rpartition(".")[0]
            package = module if self.packages.get(module) else module.rpartition(".")[0]
            for _ in range(len(target) - len(target.lstrip(".")) - 1):
                package = package.rpartition(".")[0]
            candidates = [f"{package}.{target.lstrip('.')}"]
        else:
            scopes = [context]
            while "." in scopes[-1]:
                scopes.append(scopes[-1].rpartition(".")[0])
            candidates = [target] + [f"{s}.{target}" for s in scopes]
        for candidate in candidates:
            if candidate in self.pages:
                return candidate
        suffix = [name for name in self.pages if name.endswith("." + target.lstrip("."))]
        return suffix[0] if len(suffix) == 1 else None

    def link(self, target: str, shown: str, context: str, page: str) -> str:
        full = self.resolve(target, context)
        code = f"`{shown}`"
        if full is None:
            return code
        href = "" if self.pages[full] == page else f"{self.pages[full]}.md"
        return f"[{code}]({href}#{anchor_of(full)})"


def _inline(text: str, linker: Linker | None, context: str, page: str) -> str:
    """Roles and ``literals`` to Markdown; ``<`` and ``>`` outside code escaped."""
    out, pos = [], 0
    pattern = re.compile(f"{_ROLE.pattern}|{_LITERAL.pattern}|`[^`]+`")
    for m in pattern.finditer(text):
        out.append(html.escape(text[pos:m.start()], quote=False))
        if m.group("role"):
            body = m.group("body")
            explicit = re.match(r"(.*?)\s*<(.+)>$", body)
            if explicit:
                shown, target = explicit.group(1), explicit.group(2)
            else:
                target = body.lstrip("~")
                shown = target.rsplit(".", 1)[-1] if body.startswith("~") else target.lstrip(".")
            out.append(linker.link(target, shown, context, page) if linker else f"`{shown}`")
        elif m.group(0).startswith("``"):
            out.append(f"`{m.group(0)[2:-2]}`")
        else:
            out.append(m.group(0))
        pos = m.end()
    out.append(html.escape(text[pos:], quote=False))
    return "".join(out)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _table(rows: list[str], inline) -> list[str]:
    """An RST simple table (its lines, borders included) as a Markdown table."""
    border = rows[0]
    spans = [(m.start(), m.end()) for m in re.finditer(r"=+", border)]
    starts = [s for s, _ in spans]

    def cells(line: str) -> list[str]:
        cuts = []
        for start in starts[1:]:
            cut = start
            # a cell that overflows its column: cut at the next gap of two spaces instead
            if 0 < cut < len(line) and line[cut - 1] != " " and line[cut] != " ":
                gap = line.find("  ", cut)
                cut = gap if gap != -1 else len(line)
            cuts.append(max(cut, cuts[-1] if cuts else 0))
        bounds = [0, *cuts, len(line)]
        return [line[bounds[i]:bounds[i + 1]].strip() for i in range(len(starts))]

    groups: list[list[list[str]]] = [[]]  # header rows, then body rows (between borders)
    for line in rows[1:]:
        if _TABLE_BORDER.match(line):
            groups.append([])
            continue
        row = cells(line)
        above = groups[-1][-1][0] if groups[-1] else ""
        unfinished = above.count("(") > above.count(")") or above.endswith((",", " or", " and"))
        if groups[-1] and (not row[0] or unfinished):  # more text for the row above
            groups[-1][-1] = [f"{a} {b}".strip() for a, b in zip(groups[-1][-1], row)]
        else:
            groups[-1].append(row)
    groups = [g for g in groups if g]
    header, body = (groups[0], [r for g in groups[1:] for r in g]) if len(groups) > 1 else ([["" for _ in starts]], groups[0])

    def md(row):
        return "| " + " | ".join(inline(c).replace("|", "\\|") for c in row) + " |"

    head = [" ".join(col) for col in zip(*header)]
    return ["", md(head), "|" + "---|" * len(starts), *[md(r) for r in body], ""]


def markdown_of(doc: str, linker: Linker | None = None, context: str = "", page: str = "") -> str:
    """A docstring as Markdown (see the module docstring for what is understood)."""
    def inline(text: str) -> str:
        return _inline(text, linker, context, page)

    lines = doc.expandtabs(4).split("\n")
    out: list[str] = []
    i = 0
    in_list = False
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        if _TABLE_BORDER.match(line):  # simple table: border, header, border, rows, border
            j, borders = i, 0
            while j < len(lines) and (lines[j].strip() or borders < 3):
                borders += bool(_TABLE_BORDER.match(lines[j]))
                j += 1
                if borders == 3:
                    break
            out += _table([ln for ln in lines[i:j] if ln.strip()], inline)
            i = j
            continue
        if stripped and _TITLE_UNDERLINE.match(nxt) and not _TABLE_BORDER.match(nxt) and len(nxt.strip()) >= len(stripped) - 1:
            out += ["", f"**{inline(stripped)}**", ""]
            i += 2
            continue
        section = _SECTION.match(stripped)
        if section and i + 1 < len(lines) and _indent(nxt) > _indent(line):
            base = _indent(line)
            j = i + 1
            block = []
            while j < len(lines) and (not lines[j].strip() or _indent(lines[j]) > base):
                block.append(lines[j])
                j += 1
            out += ["", f"**{section.group(1)}**", ""]
            out += _section(section.group(1), block, inline)
            i = j
            continue
        if stripped.endswith("::") and not stripped.startswith(".."):
            text = stripped[:-2].rstrip()
            if text:
                out.append(inline(text + ":") if not text.endswith(":") else inline(text))
            j = i + 1
            while j < len(lines) and not lines[j].strip():
                j += 1
            base = _indent(line)
            block = []
            while j < len(lines) and (not lines[j].strip() or _indent(lines[j]) > base):
                block.append(lines[j])
                j += 1
            while block and not block[-1].strip():
                block.pop()
            if block:
                cut = min(_indent(b) for b in block if b.strip())
                out += ["", "```python", *[b[cut:] for b in block], "```", ""]
            i = j
            continue
        bullet = _BULLET.match(line)
        if bullet:
            if out and out[-1].strip() and not in_list:
                out.append("")
            depth = min(_indent(line) // 2, 3)
            out.append(" " * (4 * depth) + inline(line.strip()))
            in_list = True
            i += 1
            continue
        if not stripped:
            in_list = False
            out.append("")
            i += 1
            continue
        if _indent(line) >= 4 and not in_list and (not out or not out[-1].strip()):
            j = i
            block = []
            while j < len(lines) and (not lines[j].strip() or _indent(lines[j]) >= 4):
                block.append(lines[j])
                j += 1
            while block and not block[-1].strip():
                block.pop()
            cut = min(_indent(b) for b in block if b.strip())
            out += ["```text", *[b[cut:] for b in block], "```", ""]
            i = j
            continue
        out.append(("    " if in_list and _indent(line) else "") + inline(stripped))
        i += 1
    text = "\n".join(out)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def _section(title: str, block: list[str], inline) -> list[str]:
    """The indented body of an ``Args:``-style section as a list (or a paragraph)."""
    content = [b for b in block if b.strip()]
    if not content:
        return []
    base = min(_indent(b) for b in content)
    if title in ("Returns", "Yields", "Note", "Notes", "Example", "Examples"):
        return [inline(" ".join(b.strip() for b in content)), ""]
    items: list[str] = []
    for b in content:
        if _indent(b) == base:
            m = re.match(r"([\w*.\[\], ]+?)(?:\s*\(([^)]*)\))?\s*:\s*(.*)$", b.strip())
            if m:
                kind = f" ({m.group(2)})" if m.group(2) else ""
                items.append(f"- `{m.group(1)}`{inline(kind)}: {inline(m.group(3))}")
            else:
                items.append(f"- {inline(b.strip())}")
        elif items:
            items[-1] += " " + inline(b.strip())
    return items + [""]


# --------------------------------------------------------------------------- pages


def anchor_of(qualname: str) -> str:
    """The HTML id of a documented name (``__call__`` would be read as bold: ``dunder-call``)."""
    return re.sub(r"__(\w+?)__", r"dunder-\1", qualname)


def _heading(level: int, text: str, qualname: str) -> str:
    return f"{'#' * level} {text} {{#{anchor_of(qualname)}}}"


def _member(member: Member, level: int, linker: Linker, page: str) -> list[str]:
    label = {"class": f"class `{member.name}`", "property": f"`{member.name}` (property)",
             "attribute": f"`{member.name}`"}.get(member.kind, f"`{member.name}`")
    out = [_heading(level, label, member.qualname), ""]
    if member.signature:
        out += ["```python", member.signature, "```", ""]
    if member.doc:
        out += [markdown_of(member.doc, linker, member.qualname, page), ""]
    for child in member.members:
        out += _member(child, level + 1, linker, page)
    return out


def pages(modules: list[Module] | None = None) -> dict[str, str]:
    """``{"index.md": text, "neuralcodecs.md": text, ...}``: the whole reference."""
    modules = modules if modules is not None else read_package()
    linker = Linker(modules)
    grouped: dict[str, list[Module]] = {}
    for module in modules:
        grouped.setdefault(page_of(module.name), []).append(module)
    order = [TOP, *sorted(p for p in grouped if p != TOP)]
    result = {}
    for page in order:
        title = TOP if page == TOP else f"{TOP}.{page}"
        out = [f"# API: `{title}`", "",
               "Written from the docstrings by `docs/_hooks/api_reference.py` when the site is built.", ""]
        for module in grouped[page]:
            out += [_heading(2, f"`{module.name}`", module.name), ""]
            if module.doc:
                out += [markdown_of(module.doc, linker, module.name, page), ""]
            if module.reexports:
                names = ", ".join(linker.link(src, name, module.name, page) for name, src in module.reexports)
                out += [f"Re-exports: {names}.", ""]
            for member in module.members:
                out += _member(member, 3, linker, page)
        result[f"{page}.md"] = "\n".join(out).rstrip() + "\n"
    index = ["# API reference", "",
             "Every module of `neuralcodecs`, with the first line of its docstring. Written from the",
             "source (read, not imported) by `docs/_hooks/api_reference.py` when the site is built.", ""]
    for page in order:
        title = TOP if page == TOP else f"{TOP}.{page}"
        index += [f"## [`{title}`]({page}.md)", "", "| module | what it is |", "|---|---|"]
        for module in grouped[page]:
            first = module.doc.strip().split("\n\n")[0].replace("\n", " ") if module.doc else ""
            index.append(f"| [`{module.name}`]({page}.md#{module.name}) | "
                         f"{_inline(first, linker, module.name, 'index').replace('|', chr(92) + '|')} |")
        index.append("")
    result["index.md"] = "\n".join(index)
    return result


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__.strip().splitlines()[-1].strip(), file=sys.stderr)
        return 2
    out = Path(argv[0])
    out.mkdir(parents=True, exist_ok=True)
    for name, text in pages().items():
        (out / name).write_text(text, encoding="utf-8")
        print(out / name)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
