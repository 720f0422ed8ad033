"""Using what a run trained: standard model folders, the model card, `ftrun predict` and `ftrun eval`.

One run per method on a tiny model, trained once for the module from a private copy of the model
that is deleted straight after, so every test here also shows the run folder needs no model source.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from runner import rundir
from runner.errors import DataError, RunFolderError
from runner.pipeline import run_recipe

from .conftest import ftrun_in_process, sentiment_rows, write_jsonl
from .test_run import tiny_recipe

METHODS = ["full", "lora", "ia3", "dora", "qlora", "linear", "prompt-linear", "prompt-tuning"]

# Runs in a fresh interpreter that never imports ftrun: what a user with only transformers/peft has.
PLAIN_LOAD = r"""
import json, sys
import torch
from transformers import pipeline

runs, texts = json.loads(sys.argv[1]), json.loads(sys.argv[2])
result = {}
for run in runs:
    classify = pipeline("text-classification", model=f"{run}/model", trust_remote_code=True, top_k=None)
    config = classify.model.config
    prompt = config.prompt or {"before": "", "after": ""}
    wrapped = [prompt["before"] + text + prompt["after"] for text in texts]
    scores = classify(wrapped, batch_size=4, truncation=True)
    result[run] = {
        "labels": config.id2label,
        "probabilities": [[{s["label"]: s["score"] for s in row}[config.id2label[i]]
                           for i in range(len(config.id2label))] for row in scores],
    }
    if "adapter" in sys.argv[3:] and config.method in ("lora", "ia3", "dora"):
        from peft import AutoPeftModelForSequenceClassification
        from transformers import AutoTokenizer
        adapter = f"{run}/model/adapter"
        model = AutoPeftModelForSequenceClassification.from_pretrained(adapter, trust_remote_code=True)
        tokenizer = AutoTokenizer.from_pretrained(adapter, trust_remote_code=True)
        batch = tokenizer(texts, padding=True, truncation=True, return_tensors="pt")
        with torch.no_grad():
            result[run]["adapter"] = model.eval()(**batch).logits.softmax(-1).tolist()
assert not any(name == "runner" or name.startswith("runner.") for name in sys.modules), "ftrun was imported"
print(json.dumps(result))
"""


@pytest.fixture(scope="module")
def runs(tmp_path_factory, tiny_bert) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("use")
    model = shutil.copytree(tiny_bert, root / "private-model")
    data = root / "data"
    data.mkdir()
    write_jsonl(data / "train.jsonl", sentiment_rows(48, seed=1))
    write_jsonl(data / "test.jsonl", sentiment_rows(21, seed=2))
    folders = {}
    for method in METHODS:
        recipe = tiny_recipe(model, data, root / "outputs", method)
        # Room for prompt-linear's few-shot prompt and every text, so a plain pipeline fed prompt + text
        # sees what ftrun saw (past max_length ftrun cuts the text, a pipeline cuts the end).
        recipe.model.max_length = 120
        folders[method] = run_recipe(recipe, Path(f"{method}.toml"))
    shutil.rmtree(model)  # the run folders must not need the model they started from
    return folders


@pytest.fixture(scope="module")
def eval_texts(runs) -> list[str]:
    folder = runs["full"]
    data = Path(json.loads((folder / "metrics.json").read_text())["data"]["source"])
    return [json.loads(line)["text"] for line in (data / "test.jsonl").read_text().splitlines()]


def saved_probabilities(folder: Path) -> torch.Tensor:
    rows = sorted(rundir.read_jsonl(folder / "predictions.jsonl"), key=lambda row: row["id"])
    return torch.tensor([row["probabilities"] for row in rows])


def load_without_ftrun(folders: list[Path], texts: list[str], *extra: str) -> dict[str, dict]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {
        "HF_HUB_OFFLINE": "1",
        "HF_MODULES_CACHE": str(folders[0].parent / ".hf-modules"),
    }
    done = subprocess.run(
        [sys.executable, "-c", PLAIN_LOAD, json.dumps([str(f) for f in folders]), json.dumps(texts), *extra],
        capture_output=True,
        text=True,
        env=env,
        cwd=folders[0].parent,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.splitlines()[-1])


def test_every_method_loads_with_plain_transformers_and_its_pipeline_gives_the_saved_probabilities(
    runs, eval_texts
):
    loaded = load_without_ftrun([runs[m] for m in METHODS], eval_texts, "adapter")
    for method in METHODS:
        result = loaded[str(runs[method])]
        assert result["labels"] == {"0": "negative", "1": "positive"}
        expected = saved_probabilities(runs[method])
        torch.testing.assert_close(
            torch.tensor(result["probabilities"]), expected, atol=1e-5, rtol=1e-4, msg=method
        )
        if method in ("lora", "ia3", "dora"):  # the peft adapter over the saved base gives the same model
            torch.testing.assert_close(torch.tensor(result["adapter"]), expected, atol=1e-5, rtol=1e-4)


def test_a_copied_run_folder_loads_from_its_new_location(runs, eval_texts, tmp_path):
    copies = [shutil.copytree(runs[m], tmp_path / "elsewhere" / m) for m in METHODS]
    loaded = load_without_ftrun(copies, eval_texts)
    for copy, method in zip(copies, METHODS, strict=True):
        expected = saved_probabilities(runs[method])
        torch.testing.assert_close(
            torch.tensor(loaded[str(copy)]["probabilities"]), expected, atol=1e-5, rtol=1e-4
        )


def test_the_config_names_the_labels_pooling_and_where_the_base_came_from(runs):
    config = json.loads((runs["linear"] / "model" / "config.json").read_text())
    assert config["id2label"] == {"0": "negative", "1": "positive"} and config["label2id"]["positive"] == 1
    assert config["auto_map"]["AutoModelForSequenceClassification"].startswith("modeling_ftrun.")
    assert (
        config["pooling"] == "mean"
        and config["head_hidden"] == 16
        and config["text_config"]["model_type"] == "bert"
    )
    assert config["base_model"] == ""  # a local model: its weights are in the folder, not on the hub
    assert config["base_model_path"].endswith("private-model")
    assert (runs["linear"] / "model" / "modeling_ftrun.py").is_file()
    assert not (runs["linear"] / "model" / "head.json").exists()
    prompt = json.loads((runs["prompt-linear"] / "model" / "config.json").read_text())["prompt"]
    assert prompt["after"] == "\nSentiment:" and prompt["before"].count("Review:") == 3  # 2 shots + the text


def test_a_hub_base_model_is_recorded_with_the_revision_that_was_loaded(tmp_path):
    from runner.model.hf_folder import hub_revision

    repo = tmp_path / "models--someone--tiny"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("0123abcd")
    (repo / "snapshots" / "0123abcd").mkdir(parents=True)
    (repo / "snapshots" / "0123abcd" / "config.json").write_text("{}")
    assert hub_revision("someone/tiny", cache_dir=str(tmp_path)) == "0123abcd"
    assert hub_revision("someone/absent", cache_dir=str(tmp_path)) is None


def test_predictions_hold_every_labels_probability(runs):
    for row in rundir.read_jsonl(runs["full"] / "predictions.jsonl"):
        assert len(row["probabilities"]) == 2 and abs(sum(row["probabilities"]) - 1) < 1e-5
        assert row["probabilities"][row["predicted"]] == row["probability"]


def test_the_model_card_is_a_hub_card_with_the_runs_results(runs):
    from huggingface_hub import ModelCard

    card = ModelCard.load(runs["lora"] / "model" / "README.md")
    metrics = json.loads((runs["lora"] / "metrics.json").read_text())
    assert card.data.pipeline_tag == "text-classification" and card.data.library_name == "transformers"
    assert card.data.metrics == ["accuracy", "f1", "matthews_correlation"] and "lora" in card.data.tags
    assert card.data.eval_results[0].metric_value == round(metrics["accuracy"], 4)
    assert f"{metrics['accuracy']:.1%}" in card.text and "batch-1 latency" in card.text
    assert "[method]" in card.text  # the recipe
    assert "wrapped in a prompt" in ModelCard.load(runs["prompt-linear"] / "model" / "README.md").text


def test_predict_classifies_texts_given_as_arguments(runs, monkeypatch, capsys):
    code, out, _ = ftrun_in_process(
        monkeypatch, capsys, "predict", str(runs["full"]), "a great film", "dull", "--json"
    )
    rows = [json.loads(line) for line in out.splitlines()]
    assert code in (0, None) and [row["text"] for row in rows] == ["a great film", "dull"]
    assert set(rows[0]["probabilities"]) == {"negative", "positive"}
    assert rows[0]["probability"] == max(rows[0]["probabilities"].values())


def test_predict_gives_the_run_folders_probabilities_for_a_file_and_keeps_its_order(
    runs, eval_texts, tmp_path, monkeypatch, capsys
):
    text_file = tmp_path / "texts.txt"
    text_file.write_text("\n".join(eval_texts) + "\n")
    out = tmp_path / "predicted.jsonl"
    code, _, err = ftrun_in_process(
        monkeypatch,
        capsys,
        "predict",
        str(runs["prompt-linear"]),
        "--file",
        str(text_file),
        "--out",
        str(out),
    )
    assert code in (0, None) and f"wrote {len(eval_texts)} predictions" in err
    rows = rundir.read_jsonl(out)
    assert [row["text"] for row in rows] == eval_texts
    predicted = torch.tensor(
        [[row["probabilities"][label] for label in ("negative", "positive")] for row in rows]
    )
    torch.testing.assert_close(predicted, saved_probabilities(runs["prompt-linear"]), atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_predict_reads_the_named_column_of_a_csv_or_jsonl_file(runs, suffix, tmp_path, monkeypatch, capsys):
    path = tmp_path / f"reviews{suffix}"
    if suffix == ".csv":
        path.write_text('id,review\n1,"great, superb"\n2,awful\n')
    else:
        write_jsonl(path, [{"review": "great, superb"}, {"review": "awful"}])
    args = ("predict", str(runs["lora"]), "--file", str(path), "--text-column", "review", "--json")
    code, out, _ = ftrun_in_process(monkeypatch, capsys, *args)
    assert code in (0, None) and [json.loads(line)["text"] for line in out.splitlines()] == [
        "great, superb",
        "awful",
    ]


def test_predict_reads_stdin_for_a_dash(runs, monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", io.StringIO("great fun\n\nworst film\n"))
    code, out, _ = ftrun_in_process(monkeypatch, capsys, "predict", str(runs["linear"]), "-")
    assert code in (0, None) and "great fun" in out and "worst film" in out and "probability" in out


def test_predict_errors_are_one_line(runs, tmp_path, monkeypatch, capsys):
    unfinished = tmp_path / "unfinished"
    unfinished.mkdir()
    (unfinished / "recipe.toml").write_text("")
    no_column = tmp_path / "texts.csv"
    no_column.write_text("body\nfine\n")
    cases = {
        (str(tmp_path), "hi"): "not a run folder",
        (str(unfinished), "hi"): "has not finished",
        (str(runs["full"]), "--file", str(no_column)): "no column 'text'",
        (str(runs["full"]),): "no texts to classify",
    }
    for args, message in cases.items():
        code, _, err = ftrun_in_process(monkeypatch, capsys, "predict", *args)
        assert code == 2 and len(err.strip().splitlines()) == 1 and message in err, err


def test_eval_scores_a_run_on_another_data_set_into_a_folder_compare_groups_apart(
    runs, tmp_path, monkeypatch, capsys
):
    from runner.compare.comparison import compare

    other = write_jsonl(tmp_path / "other.jsonl", sentiment_rows(15, seed=9))
    code, _, _ = ftrun_in_process(
        monkeypatch,
        capsys,
        "eval",
        str(runs["lora"]),
        "--data",
        str(other),
        "--split",
        "train",
        "--out-dir",
        str(tmp_path / "evals"),
    )
    assert code in (0, None)
    folder = tmp_path / "evals" / "lora-on-other"
    metrics = json.loads((folder / "metrics.json").read_text())
    original = json.loads((runs["lora"] / "metrics.json").read_text())
    assert metrics["evaluated_run"] == str(runs["lora"].resolve())
    assert (
        metrics["method"] == "lora"
        and metrics["train"] == original["train"]
        and metrics["params"] == original["params"]
    )
    assert metrics["data"]["eval_size"] == 15 and metrics["data"]["train_size"] == 48
    assert len(rundir.read_jsonl(folder / "predictions.jsonl")[0]["probabilities"]) == 2
    result = compare([runs["lora"].parent, tmp_path / "evals"])
    groups = {frozenset(run.name for run in group) for group in result.groups}
    assert groups == {frozenset(METHODS), frozenset(["lora-on-other"])}


def test_eval_refuses_an_eval_set_whose_labels_are_not_the_runs(runs, tmp_path):
    from runner.use.rescore import evaluate_run

    three = write_jsonl(
        tmp_path / "three.jsonl", [{"text": "fine", "label": "neutral"}, {"text": "ok", "label": 0}]
    )
    with pytest.raises(DataError, match="do not match the run's labels"):
        evaluate_run(runs["full"], str(three), "train", [], out_dir=tmp_path)
    with pytest.raises(DataError, match="do not match the run's labels"):
        evaluate_run(runs["full"], str(three), "train", ['data.labels=["a","b","c"]'], out_dir=tmp_path)
    no_model = tmp_path / "no-model"
    no_model.mkdir()
    (no_model / "metrics.json").write_text("{}")
    with pytest.raises(RunFolderError, match="saved no model"):
        evaluate_run(no_model, str(three), "train", [], out_dir=tmp_path)


def test_eval_scores_the_whole_split_unless_a_size_is_set(runs):
    from runner.use.rescore import eval_recipe

    source = json.loads((runs["full"] / "metrics.json").read_text())["data"]["source"]
    recipe, _ = eval_recipe(runs["full"], source, "train", [])
    assert recipe.data.eval_size == 0 and recipe.data.eval_split == "train"
    assert recipe.model.name == str((runs["full"] / "model").resolve())  # the saved model, not the source
    sized, _ = eval_recipe(runs["full"], source, None, ["data.eval_size=5"])
    assert sized.data.eval_size == 5 and sized.data.eval_split == "test"
