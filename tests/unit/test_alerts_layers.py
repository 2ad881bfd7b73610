"""The rooms of alerts/ (issue 17): stages import only the shared vocabulary, the top composes, no cycles.

Rooms, read from the import statements (also those inside functions) with `ast`:
- vocabulary: alerts.model, alerts.lifecycle, alerts.metrics (and alerts.errors once it exists); they import
  only each other.
- stages: alerts.rules, alerts.notify, alerts.reports; each imports itself and the vocabulary, never another
  stage and never the top.
- top: every other module directly in alerts/ (processor, planner, store, service, ...); it may import anything.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT

VOCABULARY = frozenset({"alerts.model", "alerts.lifecycle", "alerts.metrics", "alerts.errors"})
STAGES = ("alerts.rules", "alerts.notify", "alerts.reports")


def module_name(path: Path, root: Path) -> str:
    """The dotted name of a module file under root."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(tree: ast.AST, name: str, is_package: bool) -> Iterator[str]:
    """Every module an import statement names (relative imports resolved; `from x import y` may name x.y)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = name.split(".") if is_package else name.split(".")[:-1]
                package = package[: len(package) - node.level + 1]
                base = ".".join([*package, base] if base else package)
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)


def alerts_graph(root: Path) -> dict[str, set[str]]:
    """Module -> the alerts modules it imports (only names that are modules of alerts/ count)."""
    files = {module_name(p, root): p for p in (root / "alerts").rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        targets = imported(tree, name, path.name == "__init__.py")
        graph[name] = {t for t in targets if t in files and t != name}
    return graph


def room(module: str) -> str:
    """The room of an alerts module: 'vocabulary', a stage's package name, or 'top'."""
    if module in VOCABULARY:
        return "vocabulary"
    return next((s for s in STAGES if module == s or module.startswith(s + ".")), "top")


def is_allowed(source: str, target: str) -> bool:
    """Whether an import from `source` to `target` keeps to the rooms."""
    src, dst = room(source), room(target)
    if src == "top" or dst == "vocabulary":
        return src != "vocabulary" or dst == "vocabulary"
    return src == dst


def forbidden(graph: dict[str, set[str]]) -> list[str]:
    """Every import arrow that leaves its room the wrong way."""
    return sorted(f"{s} -> {t}" for s, targets in graph.items() for t in targets if not is_allowed(s, t))


def cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle, as the modules around it, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt):], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start)):
            return found
    return None


@pytest.mark.parametrize(
    ("source", "target", "allowed"),
    [
        pytest.param("alerts.processor", "alerts.rules.engine", True, id="top-imports-a-stage"),
        pytest.param("alerts.planner", "alerts.notify.render", True, id="planner-imports-notify"),
        pytest.param("alerts.rules.engine", "alerts.model", True, id="stage-imports-vocabulary"),
        pytest.param("alerts.notify.render", "alerts.lifecycle", True, id="notify-imports-lifecycle"),
        pytest.param("alerts.rules.engine", "alerts.rules.limits", True, id="within-a-stage"),
        pytest.param("alerts.lifecycle", "alerts.model", True, id="vocabulary-within-itself"),
        pytest.param("alerts.rules.engine", "alerts.store", False, id="stage-imports-top"),
        pytest.param("alerts.reports.worker", "alerts.store", False, id="reports-imports-top-store"),
        pytest.param("alerts.notify.render", "alerts.rules.engine", False, id="notify-imports-rules"),
        pytest.param("alerts.rules.policy", "alerts.notify.routing", False, id="rules-imports-notify"),
        pytest.param("alerts.notify.outbox", "alerts.reports.links", False, id="notify-imports-reports"),
        pytest.param("alerts.model", "alerts.rules.policy", False, id="vocabulary-imports-a-stage"),
        pytest.param("alerts.lifecycle", "alerts.store", False, id="vocabulary-imports-top"),
    ],
)
def test_is_allowed(source: str, target: str, allowed: bool) -> None:
    assert is_allowed(source, target) == allowed


@pytest.mark.parametrize(
    ("graph", "found"),
    [
        pytest.param({"a": {"b"}, "b": {"c"}, "c": set()}, None, id="chain"),
        pytest.param({"a": {"b", "c"}, "b": {"c"}, "c": set()}, None, id="diamond"),
        pytest.param({"a": {"b"}, "b": {"a"}}, ["a", "b", "a"], id="two-cycle"),
        pytest.param({"a": {"b"}, "b": {"c"}, "c": {"b"}}, ["b", "c", "b"], id="cycle-below-the-start"),
    ],
)
def test_cycle(graph: dict[str, set[str]], found: list[str] | None) -> None:
    assert cycle(graph) == found


def test_imports_resolve_relative_and_from_forms(tmp_path: Path) -> None:
    pkg = tmp_path / "alerts" / "rules"
    pkg.mkdir(parents=True)
    for path in (tmp_path / "alerts" / "__init__.py", pkg / "__init__.py", tmp_path / "alerts" / "store.py",
                 tmp_path / "alerts" / "model.py", pkg / "limits.py"):
        path.write_text("")
    (pkg / "engine.py").write_text(
        "from . import limits\nfrom ..model import X\ndef f():\n    from alerts import store\n"
    )
    graph = alerts_graph(tmp_path)
    assert graph["alerts.rules.engine"] == {"alerts.rules", "alerts.rules.limits", "alerts.model", "alerts",
                                            "alerts.store"}
    assert forbidden(graph) == ["alerts.rules.engine -> alerts", "alerts.rules.engine -> alerts.store"]


def test_alerts_keeps_to_its_rooms() -> None:
    assert forbidden(alerts_graph(ROOT)) == []


def test_alerts_has_no_import_cycle() -> None:
    assert cycle(alerts_graph(ROOT)) is None
