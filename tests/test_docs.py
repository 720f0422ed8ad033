"""The documentation site (docs/, mkdocs.yml) and the README: complete, in step with the code, and about
the software only."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import yaml

from .conftest import REPO

DOCS = REPO / "docs"
REGENERATE = "python docs/gen_reference.py"
START, END = "<!-- reference:start -->", "<!-- reference:end -->"

# Phrases about how the work on ftrun was organised, not about ftrun. `nox` sessions stay allowed.
NOT_ABOUT_THE_SOFTWARE = [
    re.compile(r"\bissues? #?\d+", re.IGNORECASE),
    re.compile(r"\b(?:this|that|last|next|previous|earlier|another|other|same) sessions?\b", re.IGNORECASE),
    re.compile(r"\ba session with\b", re.IGNORECASE),
    re.compile(r"\b(?:was|were|is|been) lent\b", re.IGNORECASE),
]


def pages() -> list[Path]:
    return sorted(DOCS.rglob("*.md"))


def documents() -> list[Path]:
    """Every Markdown file a user reads: the README, the site's pages, the benchmarks' README."""
    return [REPO / "README.md", *pages(), REPO / "benchmarks" / "README.md"]


def nav_files(entries: object) -> list[str]:
    """The page files of mkdocs.yml's `nav`, however deeply nested."""
    if isinstance(entries, str):
        return [entries]
    if isinstance(entries, list):
        return [page for entry in entries for page in nav_files(entry)]
    if isinstance(entries, dict):
        return [page for value in entries.values() for page in nav_files(value)]
    return []


def mkdocs_config() -> dict:
    return yaml.safe_load((REPO / "mkdocs.yml").read_text())


def test_every_page_in_the_nav_exists_and_every_page_is_in_the_nav():
    config = mkdocs_config()
    assert config["docs_dir"] == "docs" and config["strict"] is True
    listed = nav_files(config["nav"])
    assert [page for page in listed if not (DOCS / page).is_file()] == []
    assert len(listed) == len(set(listed))
    on_disk = {page.relative_to(DOCS).as_posix() for page in pages()}
    assert on_disk - set(listed) == set(), "pages missing from mkdocs.yml's nav"


def gen_reference():
    spec = importlib.util.spec_from_file_location("gen_reference", DOCS / "gen_reference.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_recipe_reference_matches_the_schema():
    page = (DOCS / "reference" / "recipe.md").read_text()
    assert page.count(START) == 1 and page.count(END) == 1, (
        f"docs/reference/recipe.md needs {START} and {END}"
    )
    table = page.split(START + "\n", 1)[1].split("\n" + END, 1)[0]
    assert table == gen_reference().table(), (
        f"docs/reference/recipe.md is behind the schema: run {REGENERATE}"
    )


def test_gen_reference_rewrites_only_the_table():
    module = gen_reference()
    page = f"# Keys\n\nintro\n\n{START}\n| old |\n{END}\n\nafter\n"
    assert module.with_table(page, "| new |") == f"# Keys\n\nintro\n\n{START}\n| new |\n{END}\n\nafter\n"
    empty = f"{START}\n{END}\n"
    assert module.with_table(empty, "| new |") == f"{START}\n| new |\n{END}\n"


def test_every_runner_package_is_named_in_the_architecture_page():
    architecture = (DOCS / "architecture.md").read_text()
    packages = [
        init.parent for init in (REPO / "runner").rglob("__init__.py") if init.parent.name != "runner"
    ]
    assert packages
    missing = [p.relative_to(REPO).as_posix() + "/" for p in packages]
    assert [name for name in missing if f"`{name}`" not in architecture] == []


def resolves(dotted: str) -> bool:
    """`runner.a.b` names a module or package of the checkout, or a top-level name defined in one."""
    parts = dotted.split(".")
    for end in range(len(parts), 1, -1):
        base = REPO.joinpath(*parts[:end])
        source = base.with_suffix(".py") if base.with_suffix(".py").is_file() else base / "__init__.py"
        if not source.is_file():
            continue
        rest = parts[end:]
        if not rest:
            return True
        if len(rest) > 1:
            return False
        return bool(
            re.search(rf"^(?:def|class) {rest[0]}\b|^{rest[0]}\b.*=", source.read_text(), re.MULTILINE)
        )
    return False


def without_the_reference_table(text: str) -> str:
    """The reference table is the schema's help text, word for word: its paths are schema.py's."""
    if START not in text:
        return text
    head, rest = text.split(START, 1)
    return head + rest.split(END, 1)[-1]


def test_the_runner_paths_and_names_the_documents_mention_exist():
    wrong = []
    for document in documents():
        text = without_the_reference_table(document.read_text())
        for path in set(re.findall(r"\brunner/[\w/]*\w(?:\.py|/)", text)):
            if not (REPO / path).exists():
                wrong.append(f"{document.relative_to(REPO)}: {path}")
        for dotted in set(re.findall(r"\brunner(?:\.\w+)+", text)):
            if not dotted.endswith(".py") and not resolves(dotted.rstrip(".")):
                wrong.append(f"{document.relative_to(REPO)}: {dotted}")
    assert wrong == []


def test_the_documents_speak_of_the_software_only():
    found = []
    for document in documents():
        for number, line in enumerate(document.read_text().splitlines(), 1):
            for pattern in NOT_ABOUT_THE_SOFTWARE:
                if match := pattern.search(line):
                    found.append(f"{document.relative_to(REPO)}:{number}: {match.group(0)!r}")
    assert found == []


# Where a development checkout differs from a user's: folders beside it, the GPU check's prepared files.
# docs/development.md describes them; the scripts that prepare and read those files name them.
NOT_ON_A_USERS_MACHINE = re.compile(
    r"\.\./shared|shared/data|devcarry|device_carry|\b(?:the|a|its) carry\b|the GPU machine|no GPU was",
    re.IGNORECASE,
)
PREPARED_FILES = {"development.md", "gpu_check.sh", "prepare_device_carry.sh"}


def test_user_documents_benchmarks_and_recipes_need_nothing_beside_the_checkout():
    files = [
        *documents(),
        *(REPO / "benchmarks").rglob("*.*"),
        *(REPO / "recipes").rglob("*.toml"),
    ]
    found = [
        f"{path.relative_to(REPO)}:{number}: {match.group(0)!r}"
        for path in files
        if path.suffix in {".md", ".py", ".sh", ".toml"} and path.name not in PREPARED_FILES
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if (match := NOT_ON_A_USERS_MACHINE.search(line))
    ]
    assert found == []


def test_the_check_for_work_notes_flags_them_and_spares_nox_sessions():
    def flagged(text: str) -> bool:
        return any(pattern.search(text) for pattern in NOT_ABOUT_THE_SOFTWARE)

    notes = [
        "the targets of issue 12",
        "see issue #7",
        "before this session's change",
        "no GPU was lent",
        "shared with three other sessions' tests",
        "the last session",
    ]
    assert [note for note in notes if not flagged(note)] == []
    software = [
        "the default nox sessions",
        "the `docs` session",
        "`nox -s docs`",
        "nox sessions: lint, tests",
        "an issue with the tokenizer",
    ]
    assert [text for text in software if flagged(text)] == []
