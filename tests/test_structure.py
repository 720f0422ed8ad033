"""The runner's shape: no import cycles, small modules, a method plugin that is one file."""

from __future__ import annotations

import ast
from pathlib import Path

from .conftest import REPO

PACKAGE = REPO / "runner"
MAX_MODULE_LINES = 320


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """Every runner module imported at module level, `if TYPE_CHECKING:` blocks included."""
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    body = list(tree.body)
    while body:
        node = body.pop(0)
        if isinstance(node, ast.If):  # TYPE_CHECKING and version checks count as module level
            body += node.body + node.orelse
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return {name for name in found if name.startswith("runner")}


def import_graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: imports_of(path) & modules.keys() - {name} for name, path in modules.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    visiting: list[str] = []
    done: set[str] = set()

    def visit(node: str) -> list[str] | None:
        if node in visiting:
            return visiting[visiting.index(node) :] + [node]
        if node in done:
            return None
        visiting.append(node)
        for target in sorted(graph[node]):
            cycle = visit(target)
            if cycle:
                return cycle
        visiting.pop()
        done.add(node)
        return None

    for node in sorted(graph):
        cycle = visit(node)
        if cycle:
            return cycle
    return None


def test_runner_modules_import_each_other_without_cycles():
    assert find_cycle(import_graph()) is None, " -> ".join(find_cycle(import_graph()) or [])


def test_the_cycle_check_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_the_schema_and_the_method_registry_are_leaves():
    graph = import_graph()
    assert graph["runner.methods"] == set()
    assert graph["runner.schema"] <= {"runner.methods"}


def test_no_runner_module_is_much_over_300_lines():
    sizes = {module_name(p): len(p.read_text().splitlines()) for p in PACKAGE.rglob("*.py")}
    assert {name: n for name, n in sizes.items() if n > MAX_MODULE_LINES} == {}


def test_functions_on_the_run_path_fit_on_a_screen():
    run_path = ["run", "train", "inputs", "loaded", "checkpoints", "results", "batches", "plan", "devices"]
    long = {}
    for name in run_path:
        for node in ast.walk(ast.parse((PACKAGE / f"{name}.py").read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1  # type: ignore[operator]
                if length > 60:
                    long[f"{name}.{node.name}"] = length
    assert long == {}


def test_a_peft_method_is_one_file_and_one_registry_line():
    from runner import methods

    ia3 = PACKAGE / "methods" / "ia3.py"
    assert methods.REGISTRY["ia3"] == "runner.methods.ia3:IA3"
    # The plugin needs nothing but the shared adapter base and the schema's `option`.
    assert imports_of(ia3) <= {
        "runner.methods.adapters",
        "runner.methods.adapters.PeftMethod",
        "runner.schema",
        "runner.schema.option",
    }
    mentions = [p for p in PACKAGE.rglob("*.py") if "ia3" in p.read_text().lower() and p != ia3]
    assert mentions == [PACKAGE / "methods" / "__init__.py"]
