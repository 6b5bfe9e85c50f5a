"""The package's shape: imports run one way through the layers of the README's module map."""

from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "bayes_scaling"


def _module_map() -> dict[str, int]:
    """Module → layer, from the README's module map table."""
    layers = {}
    for line in (REPO / "README.md").read_text().splitlines():
        row = re.match(r"\|\s*(\d+)\s*\|([^|]*)\|", line)
        if row:
            for name in re.findall(r"`([\w.]+)`", row.group(2)):
                layers[name] = int(row.group(1))
    return layers


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        name = ".".join(path.relative_to(PACKAGE).with_suffix("").parts)
        out["__init__" if name == "__init__" else name.removesuffix(".__init__")] = path
    return out


def _imports(path: Path, modules: dict[str, Path]) -> set[str]:
    """Package modules imported at module level (not under ``if TYPE_CHECKING``)."""
    found = set()
    for node in ast.parse(path.read_text()).body:
        if (
            isinstance(node, ast.ImportFrom)
            and node.module
            and node.module.startswith("bayes_scaling")
        ):
            base = node.module.removeprefix("bayes_scaling").lstrip(".") or "__init__"
            for alias in node.names:
                sub = f"{base}.{alias.name}" if base != "__init__" else alias.name
                found.add(sub if sub in modules else base)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("bayes_scaling."):
                    found.add(alias.name.removeprefix("bayes_scaling."))
    return found


def test_the_module_map_names_every_module():
    layers, modules = _module_map(), _modules()
    assert sorted(set(modules) - set(layers)) == [], "modules missing from the README map"
    assert sorted(set(layers) - set(modules)) == [], "README map names modules that do not exist"


def test_imports_never_reach_a_higher_layer_and_form_no_cycle():
    layers, modules = _module_map(), _modules()
    graph = {m: _imports(p, modules) - {m} for m, p in modules.items()}
    upward = [
        f"{m} (layer {layers[m]}) imports {t} (layer {layers[t]})"
        for m, targets in graph.items()
        for t in targets
        if layers[t] > layers[m]
    ]
    assert upward == []
    state: dict[str, int] = {}  # 1 visiting, 2 done

    def visit(m: str, path: list[str]) -> None:
        state[m] = 1
        for t in sorted(graph[m]):
            assert state.get(t) != 1, f"import cycle: {' → '.join([*path, m, t])}"
            if t not in state:
                visit(t, [*path, m])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [])


def test_help_needs_no_heavy_import():
    """The CLI modules import only the bottom layer (and each other) at import time."""
    cli = {"cli", "cli_parser", "cli_commands"}
    for name in sorted(cli):
        graph = _imports(PACKAGE / f"{name}.py", _modules()) - cli
        assert graph <= {"atomic", "constants", "errors"}, (name, graph)
