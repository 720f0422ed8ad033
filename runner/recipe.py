"""Read a TOML recipe into a checked `Recipe`: extends, --set overrides, strict validation.

Precedence: schema defaults < `extends` base(s) < the recipe < `--set`. Nothing heavy is imported
here, so a bad recipe fails in well under a second.
"""

from __future__ import annotations

import dataclasses
import difflib
import sys
from pathlib import Path
from typing import Any

import tomli_w

from runner import schema, splits
from runner.errors import RecipeError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

Raw = dict[str, Any]


def load(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> schema.Recipe:
    """The resolved recipe at `path`, with `--set KEY=VALUE` overrides applied last."""
    raw = _read_with_extends(Path(path), chain=())
    for override in overrides:
        section, key, value = _parse_override(override)
        raw.setdefault(section, {})[key] = value
    return build(raw, origin=str(path))


def build(raw: Raw, origin: str = "recipe") -> schema.Recipe:
    """Check a raw mapping against the schema and fill in defaults."""
    section_classes = schema.sections()
    built = {}
    for section, values in raw.items():
        if section not in section_classes:
            raise RecipeError(f"{origin}: unknown section [{section}]{_suggest(section, section_classes)}")
        if not isinstance(values, dict):
            raise RecipeError(f"{origin}: [{section}] must be a table of keys, got {values!r}")
    for section, cls in section_classes.items():
        fields = schema.keys(cls)
        values = raw.get(section, {})
        for key in values:
            if key not in fields:
                raise RecipeError(
                    f"{origin}: unknown key {section}.{key}{_suggest(key, fields, prefix=section + '.')}"
                )
        built[section] = cls(
            **{key: _checked(f"{section}.{key}", fields[key], value, origin) for key, value in values.items()}
        )
    recipe = schema.Recipe(**built)
    _check_across_keys(recipe, origin)
    return recipe


def looks_like_path(name: str) -> bool:
    """Whether a model or data name is meant as a local path rather than a hub id."""
    return name.startswith(("/", "./", "../", "~")) or name.lower().endswith(_FILE_ENDINGS)


_FILE_ENDINGS = (".csv", ".tsv", ".json", ".jsonl", ".parquet", ".gz", ".gguf", ".txt")


def _check_across_keys(recipe: schema.Recipe, origin: str) -> None:
    """Rules that involve more than one key, or the file system."""
    splits.parse(recipe.data.train_split, f"{origin}: data.train_split")
    splits.parse(recipe.data.eval_split, f"{origin}: data.eval_split")
    labels = recipe.data.labels
    if len(labels) < 2 or len(set(labels)) != len(labels):
        raise RecipeError(f"{origin}: data.labels must name at least 2 distinct labels, got {labels!r}")
    if "{text}" not in recipe.method.prompt_template:
        raise RecipeError(f"{origin}: method.prompt_template must contain the slot {{text}}")
    for key, name in (("model.name", recipe.model.name), ("data.source", recipe.data.source)):
        if looks_like_path(name) and not Path(name).expanduser().exists():
            raise RecipeError(f"{origin}: {key}: file or folder not found: {name}")


def to_toml(recipe: schema.Recipe) -> str:
    """The fully resolved recipe (defaults included) as TOML; `load` reads it back unchanged."""
    return tomli_w.dumps(dataclasses.asdict(recipe))


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
    base_name = raw.pop("extends", None)
    if base_name is None:
        return raw
    if not isinstance(base_name, str):
        raise RecipeError(f"{path}: `extends` must be a path string, got {base_name!r}")
    base_path = path.parent / base_name
    if not base_path.is_file():
        raise RecipeError(f"{path}: `extends` file not found: {base_path}")
    return _merge(_read_with_extends(base_path, (*chain, resolved)), raw)


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


def _parse_override(override: str) -> tuple[str, str, Any]:
    key, sep, text = override.partition("=")
    section, dot, name = key.strip().partition(".")
    if not sep or not dot or not name:
        raise RecipeError(f"--set {override!r}: expected SECTION.KEY=VALUE, e.g. --set train.lr=1e-4")
    section_classes = schema.sections()
    if section not in section_classes:
        raise RecipeError(f"--set {key}: unknown section [{section}]{_suggest(section, section_classes)}")
    fields = schema.keys(section_classes[section])
    if name not in fields:
        raise RecipeError(f"--set {key}: unknown key {key}{_suggest(name, fields, prefix=section + '.')}")
    try:
        value = tomllib.loads(f"value = {text.strip()}")["value"]
    except tomllib.TOMLDecodeError:
        # A bare word such as `--set method.name=lora` is meant as a string.
        value = text.strip()
    if fields[name].type == "str" and not isinstance(value, str):
        value = text.strip()
    return section, name, value


def _checked(key: str, f: dataclasses.Field[Any], value: Any, origin: str) -> Any:
    expected = str(f.type)
    where = f"{origin}: {key}"
    if expected == "int" and not (isinstance(value, int) and not isinstance(value, bool)):
        raise RecipeError(f"{where} must be an integer, got {value!r}")
    if expected == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise RecipeError(f"{where} must be a number, got {value!r}")
        value = float(value)
    if expected == "str" and not isinstance(value, str):
        raise RecipeError(f"{where} must be a string, got {value!r}")
    if expected == "bool" and not isinstance(value, bool):
        raise RecipeError(f"{where} must be true or false, got {value!r}")
    if expected == "list[str]" and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
        raise RecipeError(f"{where} must be a list of strings, got {value!r}")
    meta = f.metadata
    if meta["choices"] and value not in meta["choices"]:
        allowed = ", ".join(meta["choices"])
        raise RecipeError(
            f"{where} = {value!r} is not allowed{_suggest(value, meta['choices'])}; choose one of: {allowed}"
        )
    if meta["positive"] and value <= 0:
        raise RecipeError(f"{where} = {value!r} must be greater than 0")
    if meta["minimum"] is not None and value < meta["minimum"]:
        raise RecipeError(f"{where} = {value!r} must be at least {meta['minimum']}")
    if meta["maximum"] is not None and value > meta["maximum"]:
        raise RecipeError(f"{where} = {value!r} must be at most {meta['maximum']}")
    return value


def _suggest(word: str, candidates: Any, prefix: str = "") -> str:
    close = difflib.get_close_matches(str(word), list(candidates), n=1, cutoff=0.6)
    return f" (did you mean {prefix}{close[0]}?)" if close else ""
