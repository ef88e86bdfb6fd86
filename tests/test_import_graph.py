"""The package's import graph: no circles, and dependencies point one way (DESIGN.md, "Layout").

Every module of ``neuralcodecs/`` is parsed with :mod:`ast` (nothing is imported); every import
statement counts, at module level or inside a function, relative ones resolved against the
module's package.  ``from pkg import name`` is an edge to ``pkg.name`` where that is a module,
else to ``pkg``.  The registry's ``"module:attribute"`` references are edges too (the lazy
loader imports them).  Implicit imports of parent packages are not edges: only the root
package's ``__init__`` (the public API) imports anything that matters, and it is a layer of its own.

``test_no_circles`` prints the summary; ``python tests/test_import_graph.py`` prints it alone.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

PACKAGE = "neuralcodecs"
ROOT = Path(__file__).resolve().parents[1] / PACKAGE

#: the layers, lowest first; a module may import from its own layer and the ones below, never above.
#: A module belongs to the layer of the longest prefix that names it ("" is the root package).
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("foundation", ("errors", "paths", "atomic", "compressai_import")),
    ("container and contract", ("bitstream", "budget", "codec", "weightfiles", "devices", "statefile", "frame_selection")),
    ("entropy models and coders", ("entropy",)),
    # what codecs build on besides entropy coding: pixels in and out, classical anchors, training
    # data, metrics, the perception model, and the shared training loop (it knows codecs only as
    # the Objective of codec.py; the families' export functions read its checkpoints)
    # the fitting engine: the loop every per-content optimization runs on (overfitted codecs, INR
    # video, latent refinement); it knows its users only as a step function and a module
    ("media and support", ("image.io", "video", "anchors", "data", "metrics", "perception", "train", "fitting")),
    ("codecs", ("image", "inr", "stem", "student")),
    ("registry", ("registry",)),
    ("public API", ("",)),
    # shards: datasets of .ncb files read back through the registry (latents, tokens via the adapter, pixels)
    ("applications", ("evaluation", "ratecontrol", "adapter", "downstream", "demo", "plot", "fuzz", "hostile", "catalog",
                      "transmission", "cli_checks", "shards")),
    ("command line", ("cli",)),
]

#: imports allowed to point up, each with its reason: none at present
UPWARD_ALLOWED: dict[tuple[str, str], str] = {}

#: codec modules that import another codec family; each with its reason ("No module reaches
#: sideways into another codec's internals": these are declared dependencies, not reaches)
CROSS_FAMILY_ALLOWED: dict[tuple[str, str], str] = {
    ("inr.overfit.codec", "image.base"): "the overfitted image codec is an ImageCodec (input rules, container)",
    ("stem.codec", "image.base"): "frames enter as image pixels (pixels_to_tensor)",
    ("stem.codec", "image.hyperprior"): "STEM codes frames with the hyperprior's frozen transforms",
    ("stem.codec", "image.hyperprior_refine"): "refined I-frames are the hyperprior's refinement on STEM's lattice",
    ("stem.frozen", "image.hyperprior"): "P-frame hyper-synthesis: the hyperprior's upscales and z bound",
    ("stem.model", "image.hyperprior"): "initialized from the hyperprior's hyper networks",
    ("stem.image_codec", "image.hyperprior_codec"): "the hyperprior weights STEM was trained on, by fingerprint",
    ("student.codec", "image.base"): "the supervised codec takes images as an ImageCodec does (input rules, container)",
}


def module_files() -> dict[str, tuple[Path, bool]]:
    """``{dotted name: (file, is_package)}`` of every module of the package."""
    out = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        out[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return out


def import_edges(modules: dict[str, tuple[Path, bool]]) -> dict[str, dict[str, str]]:
    """``{module: {imported module: how}}``, ``how`` = ``"line N"`` (module level), ``"line N (in a function)"``
    or ``"registry reference"``; only modules of the package."""
    edges: dict[str, dict[str, str]] = defaultdict(dict)
    for name, (path, is_package) in modules.items():
        tree = ast.parse(path.read_text(), str(path))
        package = name if is_package else name.rpartition(".")[0]
        nested = {id(n) for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
                  for n in ast.walk(f) if n is not f}
        for node in ast.walk(tree):
            targets = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")
                    base = base[: len(base) - (node.level - 1)]
                    source = ".".join(base + ([node.module] if node.module else []))
                else:
                    source = node.module or ""
                targets = [f"{source}.{a.name}" if f"{source}.{a.name}" in modules else source for a in node.names]
            for target in targets:
                while target and target not in modules and "." in target:  # import a.b.c of a module a.b
                    target = target.rpartition(".")[0]
                if target in modules and target != name and (target == PACKAGE or target.startswith(PACKAGE + ".")):
                    where = f"line {node.lineno}" + (" (in a function)" if id(node) in nested else "")
                    edges[name].setdefault(target, where)
    from neuralcodecs import registry  # torch-free: the table only

    assert Path(registry.__file__).resolve().parent == ROOT, f"imported {registry.__file__}, not the tree under {ROOT}"
    for entry in registry._REGISTRY.values():
        for reference in entry.references():
            edges[f"{PACKAGE}.registry"].setdefault(reference.partition(":")[0], "registry reference")
    return edges


def layer_of(module: str) -> int:
    """Index into :data:`LAYERS` of the longest prefix naming ``module``; ``KeyError`` if none does."""
    short = module[len(PACKAGE) + 1:] if module != PACKAGE else ""
    best = None
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if short == prefix or (prefix and short.startswith(prefix + ".")) or (not prefix and not short):
                if best is None or len(prefix) > best[1]:
                    best = (index, len(prefix))
    if best is None:
        raise KeyError(module)
    return best[0]


def find_cycle(edges: dict[str, dict[str, str]]) -> list[str] | None:
    """One cycle as ``[a, b, ..., a]``, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(edges.get(node, {})):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(edges):
        if start not in state:
            found = visit(start)
            if found:
                return found
    return None


def short(module: str) -> str:
    return module[len(PACKAGE) + 1:] if module != PACKAGE else PACKAGE


def family(module: str) -> str | None:
    """The codec package a codec-layer module belongs to (``image``, ``inr``, ``stem``), else None."""
    name = short(module)
    top = name.partition(".")[0]
    return top if LAYERS[layer_of(module)][0] == "codecs" else None


def summary(modules, edges) -> str:
    count = sum(len(t) for t in edges.values())
    lazy = sum(1 for t in edges.values() for how in t.values() if "function" in how)
    refs = sum(1 for t in edges.values() for how in t.values() if "reference" in how)
    lines = [f"{len(modules)} modules, {count} import edges ({lazy} inside functions, {refs} registry references)"]
    for index, (label, _) in enumerate(LAYERS):
        members = [short(m) for m in modules if layer_of(m) == index]
        lines.append(f"  layer {index} {label}: {len(members)} modules")
    cycle = find_cycle(edges)
    lines.append("no circles" if cycle is None else "CIRCLE: " + " -> ".join(short(m) for m in cycle))
    upward = upward_imports(edges)
    lines.append("no upward imports" if not upward else "UPWARD: " + "; ".join(upward))
    lines.append(f"cross-family codec imports (all declared): {len(CROSS_FAMILY_ALLOWED)}")
    return "\n".join(lines)


def upward_imports(edges) -> list[str]:
    found = []
    for source, targets in sorted(edges.items()):
        for target, how in sorted(targets.items()):
            if layer_of(target) > layer_of(source) and (short(source), short(target)) not in UPWARD_ALLOWED:
                found.append(f"{short(source)} ({LAYERS[layer_of(source)][0]}) imports {short(target)} "
                             f"({LAYERS[layer_of(target)][0]}), {how}")
    return found


# --------------------------------------------------------------------------- tests


def test_every_module_has_a_layer():
    unplaced = []
    for module in module_files():
        try:
            layer_of(module)
        except KeyError:
            unplaced.append(module)
    assert not unplaced, f"place these modules in a layer of LAYERS: {unplaced}"


def test_the_parser_sees_every_kind_of_import():
    """The graph holds module-level, function-level, relative and registry-reference edges (a parser
    that missed one kind would pass the other tests vacuously)."""
    edges = import_edges(module_files())
    assert edges["neuralcodecs.stem.codec"]["neuralcodecs.bitstream"].startswith("line")  # from .. import bitstream
    assert "function" in edges["neuralcodecs.stem.training"]["neuralcodecs.stem.image_codec"]
    assert "neuralcodecs.stem.codec" in edges["neuralcodecs.registry"]
    assert edges["neuralcodecs.evaluation.common"]["neuralcodecs"]  # from .. import __version__
    assert find_cycle({"a": {"b": ""}, "b": {"c": ""}, "c": {"a": ""}}) == ["a", "b", "c", "a"]


def test_no_circles(capsys):
    modules = module_files()
    edges = import_edges(modules)
    with capsys.disabled():  # the summary shows in every run, not only with -s
        print("\n" + summary(modules, edges))
    cycle = find_cycle(edges)
    assert cycle is None, "import circle: " + " -> ".join(
        f"{short(a)} [{edges[a][b]}]" for a, b in zip(cycle, cycle[1:])) + f" -> {short(cycle[-1])}"


def test_dependencies_point_down_the_layers():
    upward = upward_imports(import_edges(module_files()))
    assert not upward, "imports that run up the layers:\n" + "\n".join(upward)


def test_codec_families_do_not_reach_into_each_other():
    edges = import_edges(module_files())
    crossing = []
    for source, targets in sorted(edges.items()):
        for target, how in targets.items():
            a, b = family(source), family(target)
            if a and b and a != b and (short(source), short(target)) not in CROSS_FAMILY_ALLOWED:
                crossing.append(f"{short(source)} imports {short(target)} ({how})")
    assert not crossing, "codec families importing one another (declare in CROSS_FAMILY_ALLOWED with a reason):\n" + "\n".join(crossing)
    used = {(short(s), short(t)) for s, targets in edges.items() for t in targets}
    assert set(CROSS_FAMILY_ALLOWED) <= used, f"stale allow-list entries: {set(CROSS_FAMILY_ALLOWED) - used}"


if __name__ == "__main__":
    import sys

    sys.path.insert(0, str(ROOT.parent))  # this tree's package, not an installed one
    print(summary(module_files(), import_edges(module_files())))
