"""Every kind of bad input ends as one error line naming the culprit, exit code 2, and harms no run.

Each case is a recipe (extending a small valid base recipe), command-line arguments, or files laid
out in a workspace beside one finished run; after the command the finished run must be byte-for-byte
what it was.
"""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from runner.pipeline import run_recipe
from runner.recipe import reading as recipes

from .conftest import ftrun_in_process, run_cli, sentiment_rows, write_jsonl


@dataclass(frozen=True)
class Case:
    args: tuple[str, ...]  # `{recipe}` is the case's recipe file, `{ws}` the workspace
    named: str  # the key, value or file the error line must name (`{ws}` expanded)
    recipe: str = ""  # TOML added to a recipe that extends the valid base one
    files: dict[str, bytes] = field(default_factory=dict)  # written into the workspace first


RUN = ("{recipe}",)
OUT = "{ws}/outputs"


def recipe_case(toml: str, named: str, *extra: str, files: dict[str, bytes] | None = None) -> Case:
    return Case((*RUN, *extra), named, toml, files or {})


def data_case(name: str, content: bytes, named: str) -> Case:
    return recipe_case(f'[data]\nsource = "{{ws}}/bad/{name}"\n', named, files={f"bad/{name}": content})


def compare_case(*args: str, named: str, files: dict[str, bytes] | None = None) -> Case:
    return Case(("compare", *args), named, files=files or {})


TASK_SOURCE = '[data]\nsource = "{ws}/bad/train.jsonl"\neval_split = "train"\n'
GOOD_ROW = b'{"text": "a fine film", "label": 1}\n'
ONE_CLASS = b"".join(b'{"text": "dull %d", "label": 0}\n' % i for i in range(6))

CASES = {
    # --- the recipe file --------------------------------------------------------------------------
    "toml syntax error": recipe_case("[train]\nlr = = 3\n", "line 3"),
    "unknown section": recipe_case("[trian]\nlr = 1e-4\n", "[trian]"),
    "unknown key": recipe_case("[train]\nepoch = 2\n", "train.epoch"),
    "misspelled method": recipe_case('[method]\nname = "lorra"\n', "method.name"),
    "negative learning rate": recipe_case("[train]\nlr = -1.0\n", "train.lr"),
    "zero epochs": recipe_case("[train]\nepochs = 0\n", "train.epochs"),
    "batch size as a string": recipe_case('[train]\nbatch_size = "8"\n', "train.batch_size"),
    "bad split expression": recipe_case('[data]\ntrain_split = "train[:x]"\n', "data.train_split"),
    "template without slot": recipe_case('[method]\nprompt_template = "Review:"\n', "method.prompt_template"),
    "unknown dtype": recipe_case('[model]\ndtype = "float8"\n', "model.dtype"),
    "extends a missing file": recipe_case('extends = "missing.toml"\n', "missing.toml"),
    "extends itself": recipe_case('extends = "case.toml"\n', "case.toml"),
    "recipe file missing": Case(("{ws}/nope.toml",), "{ws}/nope.toml"),
    "recipe path is a folder": Case(("{ws}/data",), "{ws}/data"),
    # --- run names and output folders -------------------------------------------------------------
    "run name dot": recipe_case('[output]\nrun_name = "."\n', "output.run_name"),
    "run name dot-dot with overwrite": recipe_case(
        '[output]\nrun_name = ".."\n', "output.run_name", "--overwrite"
    ),
    "run name escaping output.dir": recipe_case('[output]\nrun_name = "../escaped"\n', "'../escaped'"),
    "run name with a slash": recipe_case('[output]\nrun_name = "a/b"\n', "output.run_name"),
    "run name with a backslash": recipe_case('[output]\nrun_name = "a\\\\b"\n', "output.run_name"),
    "run name blank": recipe_case('[output]\nrun_name = "   "\n', "output.run_name"),
    "output.dir is a file": recipe_case(
        '[output]\ndir = "{ws}/a-file"\n', "{ws}/a-file", files={"a-file": b"not a folder"}
    ),
    "output.dir under a file": recipe_case(
        '[output]\ndir = "{ws}/a-file/outputs"\n', "{ws}/a-file/outputs", files={"a-file": b"x"}
    ),
    "overwrite a folder that is not a run": recipe_case(
        '[output]\ndir = "{ws}"\nrun_name = "data"\n', "{ws}/data", "--overwrite"
    ),
    "overwrite the finished run, then fail": recipe_case(
        '[train]\nprecision = "fp16"\n[output]\nrun_name = "finished"\n', "train.precision", "--overwrite"
    ),
    # --- --set ------------------------------------------------------------------------------------
    "set unknown section": recipe_case("", "trian", "--set", "trian.lr=1e-4"),
    "set unknown key": recipe_case("", "train.learning_rate", "--set", "train.learning_rate=1"),
    "set wrong type": recipe_case("", "train.epochs", "--set", "train.epochs=two"),
    "set float for int": recipe_case("", "train.epochs", "--set", "train.epochs=1.5"),
    "set without a value": recipe_case("", "SECTION.KEY=VALUE", "--set", "train.lr"),
    "set a bad method": recipe_case("", "method.name", "--set", "method.name=nosuch"),
    "set an escaping run name": recipe_case("", "output.run_name", "--set", "output.run_name=../x"),
    # --- data -------------------------------------------------------------------------------------
    "data file missing": recipe_case('[data]\nsource = "{ws}/nope.jsonl"\n', "{ws}/nope.jsonl"),
    "data file of zero bytes": data_case("train.jsonl", b"", "{ws}/bad/train.jsonl"),
    "data file of blank lines": data_case("train.jsonl", b"\n\n", "{ws}/bad/train.jsonl"),
    "csv with a header only": data_case("train.csv", b"text,label\n", "{ws}/bad/train.csv"),
    "txt data file": data_case("reviews.txt", b"a fine film\n", "{ws}/bad/reviews.txt"),
    "gz that is not gzip": data_case("train.jsonl.gz", GOOD_ROW, "{ws}/bad/train.jsonl.gz"),
    "malformed jsonl line": data_case(
        "train.jsonl", GOOD_ROW + b'{"text": "b", "lab\n', "train.jsonl line 2"
    ),
    "non-utf-8 csv": data_case("train.csv", b"text,label\ncaf\xe9,0\nfine,1\n", "train.csv line 2"),
    "folder without data files": recipe_case(
        '[data]\nsource = "{ws}/bad"\n', "{ws}/bad", files={"bad/notes.md": b"# notes\n"}
    ),
    "training data of one class": recipe_case(
        '[data]\nsource = "{ws}/bad/train.jsonl"\neval_split = "train"\n',
        "data.train_split",
        files={"bad/train.jsonl": ONE_CLASS},
    ),
    "missing label column": recipe_case('[data]\nlabel_column = "stars"\n', "data.label_column"),
    "missing text column": recipe_case('[data]\ntext_column = "review"\n', "data.text_column"),
    "unknown split": recipe_case('[data]\neval_split = "validation"\n', "data.eval_split"),
    "split selecting no rows": recipe_case('[data]\ntrain_split = "train[100:]"\n', "data.train_split"),
    "labels outside data.labels": recipe_case(
        '[data]\nsource = "{ws}/bad/train.jsonl"\neval_split = "train"\n',
        "data.train_split",
        files={"bad/train.jsonl": GOOD_ROW + b'{"text": "meh", "label": 7}\n'},
    ),
    "empty texts": recipe_case(
        '[data]\nsource = "{ws}/bad/train.jsonl"\neval_split = "train"\n',
        "data.train_split",
        files={"bad/train.jsonl": GOOD_ROW + b'{"text": "", "label": 0}\n'},
    ),
    # --- task types -------------------------------------------------------------------------------
    "missing pair column": recipe_case('[data]\ntext_pair_column = "second"\n', "data.text_pair_column"),
    "empty pair texts": recipe_case(
        '[data]\nsource = "{ws}/bad/train.jsonl"\neval_split = "train"\ntext_pair_column = "second"\n',
        "'second'",
        files={
            "bad/train.jsonl": b'{"text": "a", "second": "b", "label": 1}\n'
            b'{"text": "c", "second": " ", "label": 0}\n'
        },
    ),
    "non-numeric regression target": recipe_case(
        TASK_SOURCE + 'task = "regression"\nlabel_column = "score"\n',
        "'score'",
        files={"bad/train.jsonl": b'{"text": "a", "score": 1.5}\n{"text": "b", "score": "high"}\n'},
    ),
    "non-numeric regression target in one of two CSV files": recipe_case(
        '[data]\nsource = "{ws}/bad"\ntask = "regression"\nlabel_column = "score"\n',
        "data.eval_split = 'test' of {ws}/bad: column 'score': 1 regression targets are not finite "
        "numbers (row 1: 'high')",
        files={
            "bad/train.csv": b"text,score\na,1.5\nb,2.5\n",
            "bad/test.csv": b"text,score\nc,3.0\nd,high\n",
        },
    ),
    "NaN regression target": recipe_case(
        '[data]\nsource = "{ws}/bad/train.csv"\neval_split = "train"\ntask = "regression"\n'
        'label_column = "score"\n',
        "'score'",
        files={"bad/train.csv": b"text,score\nfine,1.5\nbad,nan\n"},
    ),
    "multi-label row naming an unknown label": recipe_case(
        TASK_SOURCE + 'task = "multi_label"\nlabel_column = "labels"\nlabels = ["joy", "anger"]\n',
        "'labels'",
        files={
            "bad/train.jsonl": b'{"text": "a", "labels": ["joy"]}\n{"text": "b", "labels": ["joy", "glee"]}\n'
        },
    ),
    "one-hot column that is not 0 or 1": recipe_case(
        '[data]\nsource = "{ws}/bad/train.csv"\neval_split = "train"\ntask = "multi_label"\n'
        'label_column = ""\nlabels = ["joy", "anger"]\n',
        "'anger'",
        files={"bad/train.csv": b"text,joy,anger\nfine,1,0\nbad,0,2\n"},
    ),
    "thresholds of the wrong length": recipe_case(
        '[data]\ntask = "multi_label"\n[eval]\nthresholds = [0.5]\n', "eval.thresholds"
    ),
    "class weights of the wrong length": recipe_case(
        "[train]\nclass_weights = [1.0]\n", "train.class_weights"
    ),
    "class weights for a regression": recipe_case(
        '[data]\ntask = "regression"\n[train]\nclass_weights = "balanced"\n', "train.class_weights"
    ),
    "metric that does not fit the task": recipe_case('[eval]\nmetric = "pearson"\n', "eval.metric"),
    "pair column that is the text column": recipe_case(
        '[data]\ntext_pair_column = "text"\n', "data.text_pair_column"
    ),
    # --- models -----------------------------------------------------------------------------------
    "model path missing": recipe_case('[model]\nname = "{ws}/no-model"\n', "{ws}/no-model"),
    "model folder empty": recipe_case(
        '[model]\nname = "{ws}/empty-model"\n', "{ws}/empty-model", files={"empty-model/.keep": b""}
    ),
    "model folder with a broken config": recipe_case(
        '[model]\nname = "{ws}/broken-model"\n',
        "{ws}/broken-model",
        files={"broken-model/config.json": b"{not json"},
    ),
    "model folder of an unknown type": recipe_case(
        '[model]\nname = "{ws}/weird-model"\n',
        "{ws}/weird-model",
        files={"weird-model/config.json": b'{"model_type": "nosuch"}'},
    ),
    "gguf file missing": recipe_case('[model]\ngguf_file = "nope.gguf"\n', "nope.gguf"),
    "lora target modules missing": recipe_case(
        '[method]\nname = "lora"\nlora_target_modules = ["nosuch"]\n', "method.lora_target_modules"
    ),
    "few-shot more than the data": recipe_case(
        '[method]\nname = "prompt-linear"\nfew_shot = 100\n', "method.few_shot"
    ),
    "unknown tracker": recipe_case('[train]\nlog_with = "nosuch"\n', "train.log_with"),
    "gguf file for a model that is not gguf": recipe_case(
        '[model]\nname = "embedded-minilm"\ngguf_file = "x.gguf"\n', "model.gguf_file"
    ),
    "keep_best without a validation split": recipe_case(
        "[train]\nkeep_best = true\n", "data.validation_size"
    ),
    "validation split and size both": recipe_case(
        '[data]\nvalidation_size = 5\nvalidation_split = "train[:5]"\n', "data.validation_split"
    ),
    # --- --resume ---------------------------------------------------------------------------------
    "resume command on a folder that is not a run": Case(("resume", "{ws}/data"), "{ws}/data"),
    "resume command on a finished run": Case(("resume", OUT + "/finished"), "already finished"),
    "resume a folder that is not a run": recipe_case("", "{ws}/data", "--resume", "{ws}/data"),
    "resume a missing folder": recipe_case("", "{ws}/gone: no such folder", "--resume", "{ws}/gone"),
    "resume a finished run": recipe_case("", "already finished", "--resume", OUT + "/finished"),
    "resume a run started with another recipe": recipe_case(
        "",
        "differs",
        "--resume",
        "{ws}/unfinished",
        files={"unfinished/recipe.toml": b"[train]\nepochs = 5\n"},
    ),
    "resume a run whose recipe is corrupt": recipe_case(
        "",
        "unfinished/recipe.toml",
        "--resume",
        "{ws}/unfinished",
        files={"unfinished/recipe.toml": b"[train"},
    ),
    # --- compare ----------------------------------------------------------------------------------
    "compare a missing folder": compare_case("{ws}/gone", named="{ws}/gone"),
    "compare a folder without runs": compare_case("{ws}/data", named="{ws}/data"),
    "compare a folder whose only run is damaged": compare_case(
        "{ws}/damaged",
        named="corrupt metrics.json",
        files={"damaged/run/metrics.json": b"{", "damaged/run/recipe.toml": b""},
    ),
    "compare an unknown method": compare_case(OUT, "--method", "nosuch", named="'nosuch'"),
    "compare an unknown sort": compare_case(OUT, "--sort", "speed", named="--sort"),
    "compare an unknown format": compare_case(OUT, "--format", "xml", named="--format"),
    "compare report into a file": compare_case(
        OUT, "--report", "{ws}/a-file", named="{ws}/a-file", files={"a-file": b"keep"}
    ),
    "compare out into a folder": compare_case(
        OUT, "--format", "csv", "--out", "{ws}/data", named="{ws}/data"
    ),
    "compare out into a missing folder": compare_case(
        OUT, "--format", "csv", "--out", "{ws}/gone/runs.csv", named="{ws}/gone"
    ),
}


def base_recipe(model: Path, workspace: Path) -> str:
    return f"""
[model]
name = "{model}"
max_length = 32
[data]
source = "{workspace}/data"
[method]
name = "linear"
head_hidden = 0
[train]
epochs = 1
lr = 1e-3
precision = "fp32"
[eval]
latency_examples = 0
every_epoch = false
[output]
dir = "{workspace}/outputs"
"""


@pytest.fixture(scope="module")
def workspace(tmp_path_factory, tiny_bert) -> Path:
    """A data folder, a valid base recipe, and one finished run that no case may touch."""
    root = tmp_path_factory.mktemp("bad-inputs")
    (root / "data").mkdir()
    write_jsonl(root / "data" / "train.jsonl", sentiment_rows(24, seed=1))
    write_jsonl(root / "data" / "test.jsonl", sentiment_rows(10, seed=2))
    (root / "base.toml").write_text(base_recipe(tiny_bert, root))
    (root / "finished.toml").write_text('extends = "base.toml"\n')
    run_recipe(recipes.load(root / "finished.toml"), root / "finished.toml")
    return root


def fingerprint(folder: Path) -> dict[str, str]:
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        if path.is_file()
        else "dir"
        for path in sorted(folder.rglob("*"))
    }


def prepare(case: Case, workspace: Path, scratch: Path) -> list[str]:
    """Lay out the case's files and recipe; the command line with its placeholders filled in."""
    for name, content in case.files.items():
        path = workspace / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    recipe_path = scratch / "case.toml"
    scratch.mkdir()
    shutil.copy(workspace / "base.toml", scratch / "base.toml")
    text = case.recipe.replace("{ws}", str(workspace))
    recipe_path.write_text(text if text.startswith("extends") else 'extends = "base.toml"\n' + text)
    return [arg.replace("{recipe}", str(recipe_path)).replace("{ws}", str(workspace)) for arg in case.args]


@pytest.fixture
def case_files(workspace):
    """Remove what a case wrote into the shared workspace, so the next case starts clean."""
    before = set(workspace.iterdir())
    yield
    for path in set(workspace.iterdir()) - before:
        shutil.rmtree(path) if path.is_dir() else path.unlink()


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input_is_one_error_line_exit_2_and_harms_no_run(
    name, workspace, case_files, tmp_path, monkeypatch, capsys
):
    case = CASES[name]
    finished = workspace / "outputs" / "finished"
    before = fingerprint(finished)
    args = prepare(case, workspace, tmp_path / "scratch")
    laid_out = set(workspace.iterdir())

    code, _, err = ftrun_in_process(monkeypatch, capsys, *args)

    assert code == 2, err
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("ftrun: error:")]
    assert len(errors) == 1 and err.rstrip("\n").endswith(errors[0]), err  # one line, and the last
    assert case.named.replace("{ws}", str(workspace)) in errors[0]
    assert fingerprint(finished) == before
    assert set(workspace.iterdir()) == laid_out  # nothing written outside output.dir


def test_there_are_at_least_forty_cases():
    assert len(CASES) >= 40


def test_the_console_script_shows_no_library_log_lines_around_the_error(workspace, case_files, tmp_path):
    """In a real process the libraries' loggers write to the terminal too: only ftrun's line may."""
    case = CASES["malformed jsonl line"]
    args = prepare(case, workspace, tmp_path / "scratch")
    code, _, err = run_cli(*args)
    assert code == 2 and "Traceback" not in err and "Failed to" not in err
    assert err.rstrip("\n").splitlines()[-1].startswith("ftrun: error: data.source:")
    assert err.count("ftrun: error:") == 1
