"""Read a TOML recipe into a checked `Recipe`: extends, --set overrides, strict validation.

Precedence: schema defaults < `extends` base(s) < the recipe < `--set`. Nothing heavy is imported
here, so a bad recipe fails in well under a second.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import tomli_w

from runner.errors import RecipeError
from runner.recipe import identity, rules, schema, sources, splits, tasks
from runner.recipe.spelling import suggest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

Raw = dict[str, Any]


def load(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> schema.Recipe:
    """The resolved recipe at `path`, with `--set KEY=VALUE` overrides applied last."""
    return build(apply_overrides(read_raw(Path(path)), overrides), origin=str(path))


def read_raw(path: Path) -> Raw:
    """The recipe's TOML tables, `extends` bases merged in, nothing checked yet."""
    return _read_with_extends(path, chain=())


def apply_overrides(raw: Raw, overrides: list[str] | tuple[str, ...]) -> Raw:
    merged = _merge(raw, {})
    problems = []
    for override in overrides:
        try:
            section, key, value = parse_override(override)
        except RecipeError as error:
            problems += error.problems
            continue
        merged.setdefault(section, {})[key] = value
    if problems:
        raise RecipeError(*problems)
    return merged


def build(raw: Raw, origin: str = "recipe") -> schema.Recipe:
    """Check a raw mapping against the schema and fill in defaults; every problem is reported at once."""
    problems: list[str] = []
    section_classes = schema.sections()
    for section, values in raw.items():
        if section not in section_classes:
            problems.append(f"{origin}: unknown section [{section}]{suggest(section, section_classes)}")
        elif not isinstance(values, dict):
            problems.append(f"{origin}: [{section}] must be a table of keys, got {values!r}")
    given = {section: values if isinstance(values, dict) else {} for section, values in raw.items()}
    built: dict[str, Any] = {"method": _method_section(given.get("method", {}), origin, problems)}
    # Keys the recipe leaves unset take the method's own default where it has one (train.lr...).
    defaults = _method_defaults(built["method"].name)
    for section, cls in section_classes.items():
        if section != "method":
            values = {**defaults.get(section, {}), **given.get(section, {})}
            built[section] = cls(**checked_keys(section, cls, values, origin, problems))
    if not problems:
        recipe = schema.Recipe(**built)
        problems += _problems_across_keys(recipe, origin)
    if problems:
        raise RecipeError(*problems)
    return recipe


def _method_defaults(name: str) -> dict[str, dict[str, Any]]:
    if name not in schema.METHODS:
        return {}  # an unknown method is already reported
    from runner.registry import method_class

    defaults: dict[str, dict[str, Any]] = method_class(name).defaults
    return defaults


def checked_keys(section: str, cls: type, values: Raw, origin: str, problems: list[str]) -> Raw:
    fields = schema.fields_of(cls)
    checked = {}
    for key, value in values.items():
        if key not in fields:
            problems.append(
                f"{origin}: unknown key {section}.{key}{suggest(key, fields, prefix=section + '.')}"
            )
            continue
        try:
            checked[key] = _validated(f"{section}.{key}", cls, key, value, origin)
        except RecipeError as error:
            problems += error.problems
    return checked


def _method_section(values: Raw, origin: str, problems: list[str]) -> schema.MethodSection:
    """Shared keys, then the chosen method's own options.

    A key of another method is checked but not used: a base recipe (or a sweep over `method.name`)
    may hold every method's options, and each run keeps only its own.
    """
    shared = schema.fields_of(schema.MethodSection)
    section = schema.MethodSection(
        **checked_keys(
            "method", schema.MethodSection, {k: v for k, v in values.items() if k in shared}, origin, problems
        )
    )
    options_by_method = schema.method_options()
    chosen = options_by_method.get(section.name, schema.NoOptions)
    own = {}
    for key, value in values.items():
        if key in shared:
            continue
        owners = [cls for cls in options_by_method.values() if key in schema.fields_of(cls)]
        if not owners:
            every_key = set(shared).union(*(schema.fields_of(cls) for cls in options_by_method.values()))
            problems.append(f"{origin}: unknown key method.{key}{suggest(key, every_key, prefix='method.')}")
            continue
        owner = chosen if chosen in owners else owners[0]
        try:
            checked = _validated(f"method.{key}", owner, key, value, origin)
        except RecipeError as error:
            problems += error.problems
            continue
        if owner is chosen:
            own[key] = checked
    section.options = chosen(**own)
    return section


def _problems_across_keys(recipe: schema.Recipe, origin: str) -> list[str]:
    """Rules that involve more than one key, or the file system."""
    problems = []
    expressions = [("data.train_split", recipe.data.train_split), ("data.eval_split", recipe.data.eval_split)]
    if recipe.data.validation_split:
        expressions.append(("data.validation_split", recipe.data.validation_split))
    for key, expression in expressions:
        try:
            splits.parse(expression, f"{origin}: {key}")
        except RecipeError as error:
            problems += error.problems
    if recipe.data.validation_split and recipe.data.validation_size:
        problems.append(f"{origin}: set data.validation_split or data.validation_size, not both")
    problems += [f"{origin}: {problem}" for problem in tasks.task_problems(recipe)]
    problems += [f"{origin}: {problem}" for problem in rules.training_problems(recipe)]
    for key, name in (("model.name", recipe.model.name), ("data.source", recipe.data.source)):
        if sources.looks_like_path(name) and not Path(name).expanduser().exists():
            problems.append(f"{origin}: {key}: file or folder not found: {name}")
    if recipe.data.config and not _is_hub_dataset(recipe.data.source):
        problems.append(
            f"{origin}: data.config = {recipe.data.config!r} names a configuration of a hub dataset; "
            f'data.source = {recipe.data.source!r} is not one (set data.config = "")'
        )
    problems += [f"{origin}: {problem}" for problem in rules.gguf_problems(recipe.model)]
    if recipe.output.run_name and (problem := rules.run_name_problem(recipe.output.run_name)):
        problems.append(problem)
    return problems


def _is_hub_dataset(source: str) -> bool:
    """Whether data.source names a hub dataset: neither an embedded set nor a local file or folder."""
    if source in (schema.EMBEDDED_DATA, schema.EMBEDDED_RT_DATA) or sources.looks_like_path(source):
        return False
    return not Path(source).expanduser().exists()


def to_toml(recipe: schema.Recipe) -> str:
    """The fully resolved recipe (defaults included) as TOML; `load` reads it back unchanged."""
    return tomli_w.dumps(identity.as_tables(recipe))


def _read_with_extends(path: Path, chain: tuple[Path, ...]) -> Raw:
    if not path.exists():
        raise RecipeError(f"recipe not found: {path}")
    if path.is_dir():
        raise RecipeError(f"recipe path is a directory, not a TOML file: {path}")
    resolved = path.resolve()
    if resolved in chain:
        cycle = " -> ".join(str(p) for p in (*chain, resolved))
        raise RecipeError(f"{path}: `extends` cycle: {cycle}")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise RecipeError(f"{path}: TOML syntax error: {error}") from None
    except UnicodeDecodeError:
        raise RecipeError(f"{path}: not a UTF-8 text file") from None
    base_names = raw.pop("extends", None)
    if base_names is None:
        return raw
    # A list of bases is merged in order, each later one over the earlier (a task and a sweep's axes).
    names = base_names if isinstance(base_names, list) else [base_names]
    if not names or not all(isinstance(name, str) for name in names):
        raise RecipeError(f"{path}: `extends` must be a path string or a list of them, got {base_names!r}")
    merged: Raw = {}
    for name in names:
        base_path = path.parent / name
        if not base_path.is_file():
            raise RecipeError(f"{path}: `extends` file not found: {base_path}")
        merged = _merge(merged, _read_with_extends(base_path, (*chain, resolved)))
    return _merge(merged, raw)


def _merge(base: Raw, top: Raw) -> Raw:
    merged = {
        section: dict(values) if isinstance(values, dict) else values for section, values in base.items()
    }
    for section, values in top.items():
        if isinstance(values, dict) and isinstance(merged.get(section), dict):
            merged[section].update(values)
        else:
            merged[section] = values
    return merged


def key_owner(section: str, name: str) -> type | None:
    """The dataclass that declares `section.name` (a method's options for its own keys), if any."""
    owners = [schema.sections()[section]] if section in schema.sections() else []
    if section == "method":
        owners += schema.method_options().values()
    return next((cls for cls in owners if name in schema.fields_of(cls)), None)


def every_key() -> list[str]:
    """Every `section.key` a recipe may set, method options included."""
    keys = [f"{s}.{k}" for s, cls in schema.sections().items() for k in schema.fields_of(cls)]
    return keys + [f"method.{k}" for cls in schema.method_options().values() for k in schema.fields_of(cls)]


def parse_override(override: str) -> tuple[str, str, Any]:
    key, sep, text = override.partition("=")
    section, dot, name = key.strip().partition(".")
    if not sep or not dot or not name:
        raise RecipeError(f"--set {override!r}: expected SECTION.KEY=VALUE, e.g. --set train.lr=1e-4")
    section_classes = schema.sections()
    if section not in section_classes:
        raise RecipeError(f"--set {key}: unknown section [{section}]{suggest(section, section_classes)}")
    owner = key_owner(section, name)
    if owner is None:
        raise RecipeError(f"--set {key}: unknown key {key}{suggest(key.strip(), every_key())}")
    try:
        value = tomllib.loads(f"value = {text.strip()}")["value"]
    except tomllib.TOMLDecodeError:
        # A bare word such as `--set method.name=lora` is meant as a string.
        value = text.strip()
    if schema.field_types(owner)[name] is str and not isinstance(value, str):
        value = text.strip()
    return section, name, value


def _validated(key: str, owner: type, name: str, value: Any, origin: str) -> Any:
    """`value` checked against the type and limits the schema gives `name` in `owner`."""
    expected = schema.field_types(owner)[name]
    where = f"{origin}: {key}"
    if expected is int and not (isinstance(value, int) and not isinstance(value, bool)):
        raise RecipeError(f"{where} must be an integer, got {value!r}")
    if expected is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise RecipeError(f"{where} must be a number, got {value!r}")
        value = float(value)
    if expected is str and not isinstance(value, str):
        raise RecipeError(f"{where} must be a string, got {value!r}")
    if expected is bool and not isinstance(value, bool):
        raise RecipeError(f"{where} must be true or false, got {value!r}")
    if expected == dict[str, Any] and not isinstance(value, dict):
        raise RecipeError(f"{where} must be a table, got {value!r}")
    if expected == list[str] and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
        raise RecipeError(f"{where} must be a list of strings, got {value!r}")
    if expected == dict[str, list[str]] and not _table_of_word_lists(value):
        example = '{positive = ["good"], negative = ["bad"]}'
        raise RecipeError(f"{where} must be a table of lists of words, e.g. {example}, got {value!r}")
    numbers = isinstance(value, list) and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in value
    )
    if expected == list[float] and not numbers:
        raise RecipeError(f"{where} must be a list of numbers, got {value!r}")
    if expected == str | list[float]:
        if not (isinstance(value, str) or numbers):
            raise RecipeError(f"{where} must be a string or a list of numbers, got {value!r}")
        if isinstance(value, list):
            return [float(v) for v in value]
    if isinstance(value, list) and expected == list[float]:
        value = [float(v) for v in value]
    meta = schema.fields_of(owner)[name].metadata
    if meta["choices"] and value not in meta["choices"]:
        allowed = ", ".join(meta["choices"])
        raise RecipeError(
            f"{where} = {value!r} is not allowed{suggest(value, meta['choices'])}; choose one of: {allowed}"
        )
    if meta["positive"] and value <= 0:
        raise RecipeError(f"{where} = {value!r} must be greater than 0")
    if meta["minimum"] is not None and value < meta["minimum"]:
        raise RecipeError(f"{where} = {value!r} must be at least {meta['minimum']}")
    if meta["maximum"] is not None and value > meta["maximum"]:
        raise RecipeError(f"{where} = {value!r} must be at most {meta['maximum']}")
    if meta.get("contains") and meta["contains"] not in value:
        raise RecipeError(f"{where} must contain {meta['contains']}")
    return value


def _table_of_word_lists(value: Any) -> bool:
    return isinstance(value, dict) and all(
        isinstance(words, list) and words and all(isinstance(w, str) and w.strip() for w in words)
        for words in value.values()
    )
