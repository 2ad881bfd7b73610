"""Import layers (issue 17, docs/architecture.md): every module's imports, read with `ast`, run only downwards
(kernel `envmon` < features < benchmarks < the top, `envmon_app`), features reach each other only through the
arrows allowed here, and no two packages import each other, directly or round a longer loop.

Imports inside functions and under TYPE_CHECKING count too: they are dependencies all the same.
`importlib.import_module("name")` with a literal name counts as an import of that name.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Rank of each top-level package: an import may only go to the same rank or a lower one.
LAYERS: dict[str, int] = {
    "envmon": 0,  # the kernel, envmon/protocols included
    "ingest": 1,
    "alerts": 1,
    "device_sim": 1,
    "dashboard": 1,
    "benchmarks": 2,
    "envmon_app": 3,
}
FEATURES = frozenset(name for name, rank in LAYERS.items() if rank == 1)

# The arrows one feature may take to another (importer package or module, imported module or package).
# The dashboard acts on alerts only through alerts.people (the interface for people) and reads stored
# reports only through alerts.reports.view.
ALLOWED_ACROSS: tuple[tuple[str, str], ...] = (
    ("dashboard", "alerts.people"),
    ("dashboard", "alerts.reports.view"),
)

# The local dev stack (PostgreSQL and Mosquitto started by `envmon stack up`) is for the CLI, the demo, the
# simulator, benchmarks and tests: the services run against production servers and never reach for it
# (device logins go through envmon.registry.service, which knows whether the broker is the local one).
STACK = "envmon.stack"
STACK_FREE = ("ingest", "alerts", "dashboard")

# Arrows that exist on main while other branches of issue 17 remove them. The lead empties this list
# after merging those branches; an entry that no longer matches anything fails the test, so it cannot rot.
TRANSITIONAL: tuple[tuple[str, str], ...] = (
)
# Cycles another branch is removing (same rule: stale entries fail). None on main today.
TRANSITIONAL_CYCLES: tuple[frozenset[str], ...] = (
)


@dataclass(frozen=True, slots=True)
class Arrow:
    """One import: the importing module, the imported module, and where it is written."""

    source: str
    target: str
    where: str


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _package_of(path: Path) -> str:
    module = _module_name(path)
    return module if path.name == "__init__.py" else module.rpartition(".")[0]


def _is_module(name: str) -> bool:
    base = ROOT.joinpath(*name.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def _targets(node: ast.AST, package: str) -> Iterator[str]:
    """The module names one AST node imports."""
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names)
    elif isinstance(node, ast.ImportFrom):
        if node.level:
            anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
            base = ".".join([*anchor, *([node.module] if node.module else [])])
        else:
            base = node.module or ""
        # `from pkg import mod` imports the module pkg.mod; `from mod import name` imports mod.
        for alias in node.names:
            yield f"{base}.{alias.name}" if _is_module(f"{base}.{alias.name}") else base
    elif isinstance(node, ast.Call) and _is_import_module_call(node):
        first = node.args[0]
        if isinstance(first, ast.Constant) and isinstance(first.value, str):
            yield first.value


def _is_import_module_call(node: ast.Call) -> bool:
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
    return name in ("import_module", "__import__") and bool(node.args)


def arrows_of(path: Path) -> Iterator[Arrow]:
    """Every import of one file that lands in one of our packages."""
    source, package = _module_name(path), _package_of(path)
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        for target in _targets(node, package):
            if target.split(".")[0] in LAYERS:
                yield Arrow(source, target, f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', 0)}")


def all_arrows() -> list[Arrow]:
    """The imports of every module of every layer."""
    files = sorted(f for name in LAYERS if (ROOT / name).is_dir() for f in (ROOT / name).rglob("*.py"))
    return [arrow for f in files for arrow in arrows_of(f)]


def _matches(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def _allowed_by(arrow: Arrow, rules: tuple[tuple[str, str], ...]) -> tuple[str, str] | None:
    return next((rule for rule in rules if _matches(arrow.source, rule[0]) and _matches(arrow.target, rule[1])), None)


def layer_violation(arrow: Arrow) -> str | None:
    """Why an import breaks the layers, or None when it may stand."""
    home, away = arrow.source.split(".")[0], arrow.target.split(".")[0]
    if LAYERS[away] > LAYERS[home]:
        return f"{arrow.where}: {arrow.source} imports {arrow.target}, a higher layer"
    if home != away and home in FEATURES and away in FEATURES and _allowed_by(arrow, ALLOWED_ACROSS) is None:
        return f"{arrow.where}: feature {home} imports {arrow.target} (not an allowed arrow between features)"
    if home in STACK_FREE and _matches(arrow.target, STACK):
        return f"{arrow.where}: service {arrow.source} imports the dev-stack launcher {arrow.target}"
    return None


def package_of_module(name: str) -> str:
    """The package a module lives in (a package is its own)."""
    base = ROOT.joinpath(*name.split("."))
    return name if (base / "__init__.py").is_file() else name.rpartition(".")[0] or name


def _related(a: str, b: str) -> bool:
    return a == b or _matches(a, b) or _matches(b, a)


def package_cycles(arrows: list[Arrow]) -> list[frozenset[str]]:
    """Groups of two or more packages that import each other, directly or round a loop (Tarjan).

    A package and its own sub-packages are left out of this graph on purpose: alerts keeps its transaction,
    lifecycle and store at its top, which alerts/rules, alerts/notify and alerts/reports use and which drive
    them (issue 17 step 1); module_cycles still catches any real loop among those modules.
    """
    edges = [(package_of_module(a.source), package_of_module(a.target)) for a in arrows]
    return _cycles([(src, dst) for src, dst in edges if not _related(src, dst)], {src for src, _ in edges})


def module_cycles(arrows: list[Arrow]) -> list[frozenset[str]]:
    """Groups of two or more modules that import each other, directly or round a loop."""
    return _cycles([(a.source, a.target) for a in arrows if a.source != a.target], {a.source for a in arrows})


def _cycles(edges: list[tuple[str, str]], nodes: set[str]) -> list[frozenset[str]]:
    graph: dict[str, set[str]] = {node: set() for node in nodes}
    for src, dst in edges:
        graph.setdefault(src, set()).add(dst)
        graph.setdefault(dst, set())
    return [group for group in _components(graph) if len(group) > 1]


def _components(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[frozenset[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group: list[str] = []
            while not group or group[-1] != node:
                group.append(stack.pop())
            out.append(frozenset(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return out


def _arrow(source: str, target: str) -> Arrow:
    return Arrow(source, target, "case")


@pytest.mark.parametrize(
    ("arrow", "broken"),
    [
        pytest.param(_arrow("envmon.cli", "alerts.cli"), True, id="kernel-up-to-a-feature"),
        pytest.param(_arrow("envmon.protocols.hj212", "ingest.decode"), True, id="protocols-are-kernel"),
        pytest.param(_arrow("ingest.service", "envmon_app.cli"), True, id="feature-up-to-the-top"),
        pytest.param(_arrow("alerts.people", "benchmarks.report"), True, id="feature-up-to-benchmarks"),
        pytest.param(_arrow("benchmarks.dashboard", "envmon_app.demo"), True, id="benchmarks-up-to-the-top"),
        pytest.param(_arrow("dashboard.alert_queue", "alerts.store"), True, id="dashboard-into-alerts-store"),
        pytest.param(_arrow("dashboard.pages", "alerts.lifecycle"), True, id="dashboard-past-the-people-interface"),
        pytest.param(_arrow("ingest.pipeline", "alerts.service"), True, id="ingest-into-alerts"),
        pytest.param(_arrow("dashboard.admin_store", "envmon.stack.launcher"), True, id="service-to-the-dev-stack"),
        pytest.param(_arrow("device_sim.load", "envmon.stack.launcher"), False, id="simulator-uses-the-dev-stack"),
        pytest.param(_arrow("dashboard.admin_store", "envmon.registry.service"), False, id="logins-via-registry"),
        pytest.param(_arrow("dashboard.alert_queue", "alerts.people"), False, id="dashboard-through-people"),
        pytest.param(_arrow("dashboard.report_view", "alerts.reports.view"), False, id="dashboard-reads-reports"),
        pytest.param(_arrow("dashboard.report_view", "alerts.reports.store"), True, id="dashboard-past-the-report-view"),
        pytest.param(_arrow("alerts.service", "envmon.db"), False, id="feature-down-to-the-kernel"),
        pytest.param(_arrow("benchmarks.dashboard", "dashboard.app"), False, id="benchmarks-drive-features"),
        pytest.param(_arrow("envmon_app.demo", "ingest.service"), False, id="top-composes-features"),
        pytest.param(_arrow("alerts.rules.engine", "alerts.notify.render"), False, id="inside-one-feature"),
    ],
)
def test_layer_rule_table(arrow: Arrow, broken: bool) -> None:
    assert (layer_violation(arrow) is not None) == broken


@pytest.mark.parametrize(
    ("edges", "packages", "modules"),
    [
        pytest.param([("alerts.rules.a", "alerts.notify.b"), ("alerts.notify.b", "alerts.rules.c")],
                     [frozenset({"alerts.rules", "alerts.notify"})], [], id="sibling-packages-import-each-other"),
        pytest.param([("ingest.a", "alerts.b"), ("alerts.b", "envmon.c"), ("envmon.c", "ingest.d")],
                     [frozenset({"ingest", "alerts", "envmon"})], [], id="rooms-round-a-loop"),
        pytest.param([("alerts.processor", "alerts.reports.links"), ("alerts.reports.cli", "alerts.lifecycle")],
                     [], [], id="a-package-and-its-sub-package"),
        pytest.param([("alerts.a", "alerts.b"), ("alerts.b", "alerts.a")], [],
                     [frozenset({"alerts.a", "alerts.b"})], id="modules-import-each-other"),
        pytest.param([("ingest.a", "envmon.db"), ("envmon.db", "envmon.stack.launcher")], [], [], id="a-chain"),
    ],
)
def test_cycle_finder_table(
    edges: list[tuple[str, str]], packages: list[frozenset[str]], modules: list[frozenset[str]]
) -> None:
    arrows = [_arrow(s, t) for s, t in edges]
    assert (package_cycles(arrows), module_cycles(arrows)) == (packages, modules)


def test_parser_reads_lazy_relative_and_dynamic_imports() -> None:
    path = ROOT / "envmon" / "settings.py"  # a real kernel module, so relative imports resolve
    tree = ast.parse(
        "def f():\n    from alerts import people\n    import ingest.service\n"
        "from . import db\nimportlib.import_module('dashboard.app')\n"
    )
    found = {t for node in ast.walk(tree) for t in _targets(node, _package_of(path))}
    assert found == {"alerts.people", "ingest.service", "envmon.db", "dashboard.app"}


def test_no_import_runs_up_a_layer_or_across_features() -> None:
    arrows = all_arrows()
    broken = [why for a in arrows if _allowed_by(a, TRANSITIONAL) is None and (why := layer_violation(a))]
    assert broken == []


def test_transitional_allowances_still_match_something() -> None:
    arrows = all_arrows()
    stale = [rule for rule in TRANSITIONAL if not any(_allowed_by(a, (rule,)) and layer_violation(a) for a in arrows)]
    assert stale == [], "remove these entries: the arrows are gone"


def test_no_import_cycle_between_packages_or_modules() -> None:
    arrows = all_arrows()
    cycles = package_cycles(arrows) + module_cycles(arrows)
    assert [c for c in cycles if c not in TRANSITIONAL_CYCLES] == []
    assert [c for c in TRANSITIONAL_CYCLES if c not in cycles] == [], "remove these entries: the cycles are gone"
