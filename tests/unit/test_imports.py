"""The import graph: no circles, and every arrow points down the layers.

Every ``import`` counts, at module level, inside functions and under
``TYPE_CHECKING`` alike: a deferred import still ties the two modules together.
The layers are drawn in docs/architecture.md; this test is their keeper.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "airtrack"

#: Top-level packages and modules of airtrack, from the entry points (0) down to
#: the shared base (7). An import may point to its own layer or a lower one.
LAYERS: dict[str, int] = {
    "__main__": 0,
    "cli": 0,
    "demo": 0,
    "testing": 0,
    "startup": 1,
    "api": 2,
    "ops": 3,
    "reports": 3,
    "orchestrator": 4,
    "worker": 4,
    "catalog": 5,
    "metadata": 5,
    "fingerprint": 6,
    "db": 6,
    **{
        name: 7
        for name in (
            "__init__",
            "checks",
            "errors",
            "home",
            "listfile",
            "localtime",
            "logging",
            "metrics",
            "processes",
            "protocol",
            "protocol_admin",
            "redact",
            "resilience",
            "settings",
            "web",
        )
    },
}

#: Arrows that the layers would allow but the design forbids.
FORBIDDEN: dict[str, set[str]] = {
    # a worker runs on another machine with only the worker token: it speaks HTTP
    "worker": {"db", "orchestrator", "catalog", "api", "ops", "reports"},
    # the recognition core is pure: numpy in, plain data out
    "fingerprint": set(LAYERS) - {"fingerprint", "errors"},
    # only the database layer touches the driver (checked on imports below)
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The airtrack modules that ``name`` imports, anywhere in its text."""
    found: set[str] = set()
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            # "from airtrack.x import y" imports the module x.y when y is one
            targets = [module] + [f"{module}.{alias.name}" for alias in node.names]
        else:
            continue
        # a package's own __init__ runs before any of its modules: not an arrow
        found |= {t for t in targets if t in known and not (name + ".").startswith(t + ".")}
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    return {name: _imports(name, path, known) for name, path in modules.items()}


def _top(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one node (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_every_top_level_module_has_a_layer() -> None:
    tops = {_top(m) for m in _modules()}
    missing = sorted(tops - set(LAYERS))
    assert not missing, f"give these a layer in LAYERS and docs/architecture.md: {missing}"


def test_no_module_import_circles() -> None:
    assert _cycles(_graph()) == []


def test_no_package_import_circles() -> None:
    packages: dict[str, set[str]] = defaultdict(set)
    for source, targets in _graph().items():
        for target in targets:
            if _top(source) != _top(target):
                packages[_top(source)].add(_top(target))
    assert _cycles(dict(packages)) == []


def test_imports_point_down_the_layers() -> None:
    upward = sorted(
        f"{source} -> {target}"
        for source, targets in _graph().items()
        for target in targets
        if _top(target) in LAYERS
        and _top(source) in LAYERS
        and LAYERS[_top(target)] < LAYERS[_top(source)]
    )
    assert upward == []


def test_forbidden_arrows() -> None:
    bad = sorted(
        f"{source} -> {target}"
        for source, targets in _graph().items()
        for target in targets
        if _top(target) in FORBIDDEN.get(_top(source), set())
    )
    assert bad == []


def test_only_the_database_layer_imports_the_driver() -> None:
    offenders = []
    for name, path in _modules().items():
        if _top(name) == "db":
            continue
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = (
                    [a.name for a in node.names]
                    if isinstance(node, ast.Import)
                    else [node.module or ""]
                )
                if any(n.split(".")[0] in ("psycopg", "psycopg_pool") for n in names):
                    offenders.append(name)
    assert offenders == []


def test_the_checker_sees_a_circle() -> None:
    """The cycle finder itself: a planted circle and a clean chain."""
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []
