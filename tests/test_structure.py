"""The runner's shape: no import cycles, small modules, a method plugin that is one file."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from .conftest import REPO

PACKAGE = REPO / "runner"
GUIDE_MODULE_LINES = 300
MAX_MODULE_LINES = 450
# Modules past the guide, each one idea that would read worse split.
ONE_IDEA_MODULES = {
    "runner.cli": "the ftrun command: one typer function per subcommand",
    "runner.pipeline": "one run, top to bottom",
    "runner.recipe.schema": "every recipe option, its default, type and help",
    "runner.recipe.reading": "reading a recipe: TOML, extends, --set, all problems at once",
    "runner.training.loop": "the training loop and the steps it takes",
    "runner.rundir.record": "metrics.json: the record, its reading, its checks and older folders",
    "runner.rundir.finished": "a finished run read back whole for compare",
    "runner.compare.comparison": "finished runs grouped by eval set, with their rows, tests and choices",
}
TRAINING_MODULES = ["loop", "inputs", "loaded_run", "checkpoints", "batches", "step_plan", "accelerator"]


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_names(path: Path) -> set[str]:
    """Every runner name `path` imports, wherever the import stands: module level, `if TYPE_CHECKING:`
    blocks and inside functions. `from a.b import c` yields `a.b` and `a.b.c`."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:  # runner uses none
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return {name for name in found if name == "runner" or name.startswith("runner.")}


def imports_of(path: Path) -> set[str]:
    """The runner modules `path` imports, with the packages Python runs on the way: importing
    `runner.a.b` runs `runner/a/__init__.py` first, so a package's own imports count too."""
    found = set()
    for name in imported_names(path):
        parts = name.split(".")
        found |= {".".join(parts[:end]) for end in range(2, len(parts) + 1)}
    return found


def import_graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph = {name: imports_of(path) & modules.keys() - {name} for name, path in modules.items()}
    for name in modules:  # a module's own package runs before it; that is an edge too
        parent = name.rpartition(".")[0]
        if parent != "runner" and parent in modules:
            graph[name] -= {parent}  # ...but a package importing its own modules is not a cycle
    return graph


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


def test_the_import_graph_counts_function_level_imports_and_the_packages_on_the_way(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from runner.training.loop import fit\n")
    assert {"runner.training", "runner.training.loop"} <= imports_of(module)


def test_no_module_imports_a_private_name_of_another():
    crossings = []
    for path in [*PACKAGE.rglob("*.py"), *(REPO / "tests").glob("*.py"), *(REPO / "benchmarks").glob("*.py")]:
        for name in imported_names(path):
            module, _, last = name.rpartition(".")
            if last.startswith("_") and not last.startswith("__") and module != module_name(path):
                crossings.append(f"{path.relative_to(REPO)}: {name}")
    assert crossings == []


def test_every_stage_folder_says_what_lives_there():
    for package in PACKAGE.rglob("__init__.py"):
        docstring = ast.get_docstring(ast.parse(package.read_text()))
        assert docstring and len(docstring) > 40, package


def test_the_cycle_check_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_the_schema_and_the_registries_are_leaves():
    graph = import_graph()
    assert graph["runner.registry"] == set()
    assert graph["runner.methods"] == set()
    assert graph["runner.registry"] == set()
    assert graph["runner.recipe.fields"] == set()
    assert graph["runner.recipe.schema"] <= {"runner.recipe.fields", "runner.registry"}


def test_the_task_modules_import_only_the_errors_the_registry_and_each_other():
    for path in (PACKAGE / "tasks").glob("*.py"):
        outside = {name for name in imports_of(path) if not name.startswith("runner.tasks")}
        assert outside <= {"runner", "runner.errors", "runner.registry"} | {
            f"runner.errors.{name}" for name in ("DataError",)
        }, path


def test_no_module_outside_the_tasks_names_a_task_type():
    from runner import registry

    named = {}
    for path in PACKAGE.rglob("*.py"):
        if path.parent.name == "tasks" or path.name == "registry.py":
            continue
        text = path.read_text()
        found = [name for name in registry.TASKS if f'"{name}"' in text or f"'{name}'" in text]
        if found:
            named[module_name(path)] = found
    assert named == {}


def test_listing_the_tasks_and_their_metrics_imports_no_numpy_or_torch():
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from runner.recipe import schema\n"
        "assert 'single_label' in schema.TASKS and 'pearson' in schema.METRIC_CHOICES\n"
        "print(sorted(name for name in ('numpy', 'torch') if name in sys.modules))\n"
    )
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert found.stdout.strip() == "[]"


# The stages in the order a run goes through them, and the top-level modules among them: each may import
# only those before it. Leaves (errors, formatting, the registry) first; the CLI last.
LAYERS = [
    "errors",
    "formatting",
    "registry",
    "tasks",
    "recipe",
    "rundir",
    "console",
    "data",
    "tokens",
    "model",
    "methods",
    "training",
    "scoring",
    "sweep",
    "compare",
    "use",
    "baseline_run",
    "pipeline",
    "cli",
    "__main__",
]


def layer_of(module: str) -> str:
    """`runner.a.b` -> `a`: a stage folder or a top-level module."""
    return module.split(".")[1]


def package_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """The module graph folded into layers: an edge where any module of one imports any of another."""
    layers: dict[str, set[str]] = {}
    for module, targets in graph.items():
        if module == "runner":
            continue
        layers.setdefault(layer_of(module), set()).update(
            layer_of(target)
            for target in targets
            if target != "runner" and layer_of(target) != layer_of(module)
        )
    return layers


def backward_imports(layers: dict[str, set[str]]) -> list[str]:
    return sorted(
        f"{layer} -> {target}"
        for layer, targets in layers.items()
        for target in targets
        if LAYERS.index(target) > LAYERS.index(layer)
    )


def test_every_stage_and_top_level_module_has_a_layer():
    layers = package_graph(import_graph())
    assert set(layers) <= set(LAYERS), set(layers) - set(LAYERS)


def test_stages_import_only_the_stages_before_them():
    """No package-level cycle, counting imports inside functions and under TYPE_CHECKING: a lower stage
    that needs a later one's behaviour takes it as an argument."""
    assert backward_imports(package_graph(import_graph())) == []


def test_the_layer_check_finds_an_import_against_the_order():
    graph = {"runner.data.texts": {"runner.scoring.latency"}, "runner.scoring.latency": {"runner.data.texts"}}
    assert package_graph(graph) == {"data": {"scoring"}, "scoring": {"data"}}
    assert backward_imports(package_graph(graph)) == ["data -> scoring"]


def test_a_module_over_300_lines_is_one_idea_named_here_and_none_is_far_over():
    """300 lines is a guide, not a wall: a module that holds one idea may pass it if it is named here
    with that idea, so the next split happens where the ideas part, not where a count says."""
    sizes = {module_name(p): len(p.read_text().splitlines()) for p in PACKAGE.rglob("*.py")}
    assert {name: n for name, n in sizes.items() if n > MAX_MODULE_LINES} == {}
    long = {name for name, n in sizes.items() if n > GUIDE_MODULE_LINES}
    assert long <= ONE_IDEA_MODULES.keys(), long - ONE_IDEA_MODULES.keys()


def test_functions_on_the_run_path_fit_on_a_screen():
    run_path = ["pipeline", "scoring/run_results", *(f"training/{name}" for name in TRAINING_MODULES)]
    long = {}
    for name in run_path:
        for node in ast.walk(ast.parse((PACKAGE / f"{name}.py").read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1  # type: ignore[operator]
                if length > 60:
                    long[f"{name}.{node.name}"] = length
    assert long == {}


def test_a_peft_method_is_one_file_and_one_registry_line():
    from runner import registry

    ia3 = PACKAGE / "methods" / "ia3.py"
    assert registry.METHODS["ia3"] == "runner.methods.ia3:IA3"
    # The plugin needs nothing but the shared adapter base and the schema's `option`.
    assert imports_of(ia3) <= {
        "runner.methods",
        "runner.recipe",
        "runner.methods.adapters",
        "runner.methods.adapters.PeftMethod",
        "runner.recipe.schema",
        "runner.recipe.fields",
        "runner.recipe.fields.option",
    }
    mentions = [p for p in PACKAGE.rglob("*.py") if "ia3" in p.read_text().lower() and p != ia3]
    assert mentions == [PACKAGE / "registry.py"]


def test_the_executor_registry_is_a_leaf_and_the_sweep_imports_nothing_of_compare():
    graph = import_graph()
    assert graph["runner.sweep.executors"] == set()
    reaching_back = {
        module: sorted(t for t in targets if t.startswith("runner.compare"))
        for module, targets in graph.items()
        if module.startswith("runner.sweep")
    }
    assert {module: targets for module, targets in reaching_back.items() if targets} == {}


def test_an_executor_is_one_module_and_one_registry_line():
    from runner.sweep import executors

    assert executors.REGISTRY["local"] == "runner.sweep.executors.local:LocalExecutor"
    engine_names = ('"local"', '"slurm"', '"submitit-local"')
    # The rest of the sweep asks the executor: no engine's name outside its module and the registry.
    outside = [
        p.relative_to(PACKAGE).as_posix()
        for p in (PACKAGE / "sweep").rglob("*.py")
        if any(name in p.read_text() for name in engine_names) and "executors" not in p.parts
    ]
    assert outside == ["sweep/settings.py"]  # the engine key's default, "local"


def test_the_architecture_diagram_draws_the_layers_in_their_order():
    text = (REPO / "docs" / "architecture.md").read_text()
    diagram = text.split("```text", 1)[1].split("```", 1)[0]
    drawn = sorted(LAYERS[:-1], key=lambda name: re.search(rf"\b{name}\b", diagram).start())  # type: ignore[union-attr]
    assert drawn == LAYERS[:-1]  # __main__ is the CLI's other name
