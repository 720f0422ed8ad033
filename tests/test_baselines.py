"""The cheap baselines (`tfidf`, `static-embeddings`) as methods: fitted outside the torch loop, their
regularisation chosen on validation only, scored, saved, reloaded by `ftrun predict` and `ftrun eval`,
and compared beside trained runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runner import rundir
from runner.errors import RecipeError
from runner.pipeline import run_recipe

from .conftest import ftrun_in_process, sentiment_rows, write_jsonl
from .task_data import TASK_DATA, write_task_data
from .test_run import tiny_recipe

pytest.importorskip("sklearn")

SENTIMENT = {"sentiment": (sentiment_rows, {})}


def tfidf_run(model: Path, source: Path, out: Path, data: dict, name: str, **method) -> Path:
    recipe = tiny_recipe(
        model,
        source,
        out,
        "tfidf",
        data={**data, "validation_size": 12},
        method={"C_grid": [0.1, 1.0, 10.0], "alpha_grid": [0.1, 1.0, 10.0], **method},
        output={"run_name": name},
    )
    return run_recipe(recipe, Path(f"{name}.toml"))


@pytest.mark.parametrize("task", [*SENTIMENT, *TASK_DATA])
def test_tfidf_runs_each_task_and_predict_and_eval_reload_it(task, tiny_bert, tmp_path, monkeypatch, capsys):
    rows_for, data = {**SENTIMENT, **TASK_DATA}[task]
    source = write_task_data(tmp_path / "data", rows_for)
    folder = tfidf_run(tiny_bert, source, tmp_path / "outputs", data, f"tfidf-{task}")
    record = rundir.read_record(folder)
    assert record.method == "tfidf" and record.scores.task == (data.get("task") or "single_label")
    assert record.params.trainable > 0 and record.train.seconds > 0
    assert record.latency is not None and record.latency["batch1_ms_p50"] > 0
    log = rundir.read_jsonl(folder / "train_log.jsonl")
    assert [row.get("C", row.get("alpha")) for row in log] in ([0.1, 1.0, 10.0], [10.0, 1.0, 0.1])
    assert all("validation_score" in row for row in log)
    assert {p.name for p in (folder / "model").iterdir()} >= {"config.json", "tfidf.json", "linear_head.npz"}
    saved = rundir.read_jsonl(folder / "predictions.jsonl")
    assert len(saved) == 24

    code, _, err = ftrun_in_process(
        monkeypatch,
        capsys,
        "eval",
        str(folder),
        "--data",
        str(source),
        "--split",
        "test",
        "--out-dir",
        str(tmp_path),
    )
    assert code == 0, err
    rescored = rundir.read_record(tmp_path / f"{folder.name}-on-data")
    assert rescored.scores.get("score") == pytest.approx(record.scores.get("score"), abs=1e-9)

    texts = ["great fun", "dull and awful"]
    arguments = ["--pair", "loved it", "--pair", "boring"] if task == "pairs" else []
    code, out, err = ftrun_in_process(
        monkeypatch, capsys, "predict", str(folder), *texts, *arguments, "--json"
    )
    assert code == 0, err
    assert len(out.splitlines()) == 2


def test_tfidf_chooses_c_on_validation_and_never_reads_the_eval_split(tiny_bert, tmp_path):
    """Two eval splits with opposite labels: the same C, the same validation scores, the same model."""
    train = sentiment_rows(60, seed=1)
    test = sentiment_rows(24, seed=2)
    flipped = [{**row, "label": 1 - row["label"]} for row in test]
    runs = []
    for name, eval_rows in (("straight", test), ("flipped", flipped)):
        source = tmp_path / name
        source.mkdir()
        write_jsonl(source / "train.jsonl", train)
        write_jsonl(source / "test.jsonl", eval_rows)
        runs.append(tfidf_run(tiny_bert, source, tmp_path / "outputs", {}, name))
    logs = [rundir.read_jsonl(folder / "train_log.jsonl") for folder in runs]
    assert logs[0] == logs[1]
    heads = [(folder / "model" / "linear_head.npz").read_bytes() for folder in runs]
    assert heads[0] == heads[1]
    scores = [rundir.read_record(folder).scores.get("score") for folder in runs]
    assert scores[0] == pytest.approx(1 - scores[1])  # the eval labels moved the score, nothing else


def test_compare_lists_tfidf_beside_a_trained_run(tiny_bert, data_folder, tmp_path, monkeypatch, capsys):
    out = tmp_path / "outputs"
    run_recipe(tiny_recipe(tiny_bert, data_folder, out, "full", train={"epochs": 1}), Path("full.toml"))
    run_recipe(tiny_recipe(tiny_bert, data_folder, out, "tfidf"), Path("tfidf.toml"))
    code, text, err = ftrun_in_process(monkeypatch, capsys, "compare", str(out), "--format", "csv")
    assert code == 0, err
    assert "tfidf" in text and "full" in text


def test_export_and_serve_refuse_a_fitted_run_in_one_line(
    tiny_bert, data_folder, tmp_path, monkeypatch, capsys
):
    folder = run_recipe(tiny_recipe(tiny_bert, data_folder, tmp_path / "out", "tfidf"), Path("tfidf.toml"))
    capsys.readouterr()  # the run's own console lines
    code, _, err = ftrun_in_process(monkeypatch, capsys, "export", str(folder))
    assert code == 2 and "scikit-learn" in err and len(err.strip().splitlines()) == 1
    from runner.errors import RunFolderError
    from runner.use.serve import load_service

    with pytest.raises(RunFolderError, match="ftrun serve: a tfidf run holds a scikit-learn model"):
        load_service(folder, False, False, None, "cpu", 8)


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        (["--set", "method.C_grid=[]"], "method.C_grid"),
        (["--set", "method.word_ngrams=[3, 1]"], "method.word_ngrams"),
        (["--set", "method.name=static-embeddings", "--set", "model.gguf_file=model.gguf"], "GGUF"),
    ],
)
def test_a_baseline_asked_the_impossible_says_so_in_one_line(
    settings, expected, tiny_bert, data_folder, tmp_path, monkeypatch, capsys
):
    recipe = tmp_path / "tfidf.toml"
    out = tmp_path / "outputs"
    recipe.write_text(
        f'[model]\nname = "{tiny_bert}"\n[data]\nsource = "{data_folder}"\n'
        f'[method]\nname = "tfidf"\n[output]\ndir = "{out}"\n'
    )
    code, _, err = ftrun_in_process(monkeypatch, capsys, str(recipe), *settings)
    assert code == 2 and expected in err and "Traceback" not in err
    assert not out.exists() or not any(out.iterdir())


@pytest.mark.slow  # distils 30,522 tokens through the tiny base: about 20 s on 2 CPU cores
def test_static_embeddings_distils_the_recipes_own_base(tiny_bert, tmp_path, monkeypatch, capsys):
    pytest.importorskip("model2vec.distill")
    monkeypatch.setenv("FTRUN_CACHE", str(tmp_path / "cache"))
    source = write_task_data(tmp_path / "data", sentiment_rows)
    recipe = tiny_recipe(
        tiny_bert,
        source,
        tmp_path / "out",
        "static-embeddings",
        data={"validation_size": 12},
        method={"pca_dims": 16, "C_grid": [0.1, 10.0]},
    )
    folder = run_recipe(recipe, Path("static.toml"))
    record = rundir.read_record(folder)
    assert record.params.trainable == 16 + 1  # two classes: one binary model, 16 weights and a bias
    assert (folder / "model" / "static" / "model.safetensors").is_file()
    code, out, err = ftrun_in_process(monkeypatch, capsys, "predict", str(folder), "great fun", "--json")
    assert code == 0, err
    assert set(json.loads(out)["probabilities"]) == {"negative", "positive"}


def test_a_missing_scikit_learn_names_the_extra_in_one_line(
    tiny_bert, data_folder, tmp_path, monkeypatch, capsys
):
    import importlib.util

    found = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "sklearn" else found(name, *a)
    )
    recipe = tiny_recipe(tiny_bert, data_folder, tmp_path / "out", "tfidf")
    with pytest.raises(RecipeError, match=r"pip install 'ftrun\[baselines\]'"):
        run_recipe(recipe, Path("tfidf.toml"))
    assert not (tmp_path / "out" / "tfidf").exists()
