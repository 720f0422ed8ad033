"""`qlora`: LoRA over a base quantised to 4 bits by bitsandbytes (which runs 4-bit layers on a CPU, slowly).

Tiny random models: the base's linear layers really are 4-bit, the adapters and the head full precision,
and what is saved reloads to the run's predictions, merged or as the adapter over the 4-bit base.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from rich.console import Console

from runner import rundir
from runner.errors import ModelError
from runner.pipeline import run_recipe
from runner.training.loaded_run import load_run

from .conftest import reload_probabilities
from .test_run import tiny_recipe

pytest.importorskip("bitsandbytes")


def loaded(model: Path, data_folder: Path, tmp_path: Path, method: str, **options):
    recipe = tiny_recipe(model, data_folder, tmp_path / "outputs", method, method=options)
    return load_run(recipe, Path(f"{method}.toml"), Console(quiet=True))


def saved_probabilities(folder: Path) -> torch.Tensor:
    rows = sorted(rundir.read_jsonl(folder / "predictions.jsonl"), key=lambda row: row["id"])
    return torch.tensor([row["probabilities"] for row in rows])


def test_the_bases_linear_layers_are_4bit_and_only_full_precision_adapters_and_head_train(
    tiny_llama, data_folder, tmp_path
):
    import bitsandbytes as bnb

    run = loaded(tiny_llama, data_folder, tmp_path, "qlora")
    modules = dict(run.classifier.backbone.named_modules())
    four_bit = [name for name, m in modules.items() if isinstance(m, bnb.nn.Linear4bit)]
    assert len(four_bit) == 2 * 7  # q, k, v, o, gate, up, down in each of the 2 layers
    assert not [n for n, m in modules.items() if type(m) is torch.nn.Linear and "lora_" not in n]
    trainable = {n: p for n, p in run.classifier.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n or n.startswith("head.") for n in trainable)
    assert all(p.dtype == torch.float32 for p in trainable.values())
    # A 4-bit weight counts as the weights it stands for: the same model as LoRA's, parameter for parameter.
    assert run.total_parameters == loaded(tiny_llama, data_folder, tmp_path, "lora").total_parameters


def test_compute_dtype_and_quantisation_are_what_the_recipe_asks(tiny_llama, data_folder, tmp_path):
    import bitsandbytes as bnb

    run = loaded(tiny_llama, data_folder, tmp_path, "qlora", quant_type="fp4", compute_dtype="bfloat16")
    layers = [m for m in run.classifier.modules() if isinstance(m, bnb.nn.Linear4bit)]
    assert {m.weight.quant_type for m in layers} == {"fp4"}
    assert {m.compute_dtype for m in layers} == {torch.bfloat16}


@pytest.mark.parametrize("compute", ["bfloat16", "float32"])
def test_with_bf16_compute_the_activations_stay_bf16_and_what_trains_stays_fp32(
    compute, tiny_llama, data_folder, tmp_path
):
    run = loaded(tiny_llama, data_folder, tmp_path, "qlora", compute_dtype=compute)
    backbone = run.classifier.backbone
    frozen = {p.dtype for p in backbone.parameters() if not p.requires_grad and p.dtype.is_floating_point}
    assert frozen == {getattr(torch, compute)}  # norms and embeddings (the 4-bit weights are uint8)
    trainable = [p for p in run.classifier.parameters() if p.requires_grad]
    assert trainable and all(p.dtype == torch.float32 for p in trainable)
    ids = torch.tensor([[5, 6, 7, 8]])
    hidden = backbone(input_ids=ids, attention_mask=torch.ones_like(ids)).last_hidden_state
    assert hidden.dtype == getattr(torch, compute)  # so is every activation kept for the backward pass


def test_a_qlora_run_reloads_to_its_predictions_merged_and_as_the_adapter_over_the_4bit_base(
    tiny_llama, data_folder, tmp_path
):
    from runner.methods.qlora import load_adapter_in_4bit

    folder = run_recipe(tiny_recipe(tiny_llama, data_folder, tmp_path, "qlora"), Path("qlora.toml"))
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["peak_memory_mb"]["process_rss"] > 0 and metrics["latency"]["batch1_ms_p50"] > 0
    assert "latency_unmerged" not in metrics or metrics["latency_unmerged"] is None  # served unmerged
    config = json.loads((folder / "model" / "config.json").read_text())
    assert config["merged_onto"] == "dequantized_4bit"
    assert config["quantization"]["bnb_4bit_quant_type"] == "nf4"
    assert config["quantization"]["bnb_4bit_use_double_quant"] is True
    assert "quantization_config" not in config["text_config"]  # the merged model is plain full precision
    expected = saved_probabilities(folder)
    torch.testing.assert_close(reload_probabilities(folder), expected, atol=1e-5, rtol=1e-5)

    model = load_adapter_in_4bit(folder / "model")
    from runner.training.batches import collate

    texts = [json.loads(line)["text"] for line in (data_folder / "test.jsonl").read_text().splitlines()]
    tokenizer = __import__("transformers").AutoTokenizer.from_pretrained(folder / "model")
    ids = [tokenizer(t, truncation=True, max_length=48)["input_ids"] for t in texts]
    batch = collate(
        [{"index": i, "input_ids": x, "label": 0} for i, x in enumerate(ids)], tokenizer.pad_token_id
    )
    with torch.no_grad():
        logits = model.eval()(batch["input_ids"], batch["attention_mask"]).logits
    torch.testing.assert_close(logits.softmax(-1), expected, atol=1e-6, rtol=1e-6)


def test_without_save_merged_the_model_folder_holds_no_weights_and_reloads_the_adapter_in_4bit(
    tiny_llama, data_folder, tmp_path
):
    recipe = tiny_recipe(
        tiny_llama,
        data_folder,
        tmp_path,
        "qlora",
        method={"save_merged": False},
        eval={"latency_examples": 0},
    )
    folder = run_recipe(recipe, Path("unmerged.toml"))
    model = folder / "model"
    assert (
        not (model / "model.safetensors").exists()
        and (model / "adapter" / "base" / "model.safetensors").is_file()
    )
    assert json.loads((model / "config.json").read_text())["merged_onto"] is None
    card = (model / "README.md").read_text()
    assert "BitsAndBytesConfig" in card and "no merged model" in card
    torch.testing.assert_close(
        reload_probabilities(folder), saved_probabilities(folder), atol=1e-6, rtol=1e-6
    )


# Without ftrun: the adapter with peft over the saved base loaded in 4-bit (as the card says) and in full.
PLAIN_PEFT = r"""
import json, sys
import torch
from peft import PeftModel
from transformers import AutoModelForSequenceClassification, AutoTokenizer, BitsAndBytesConfig

run, texts = sys.argv[1], json.loads(sys.argv[2])
record = json.load(open(f"{run}/model/config.json"))["quantization"]
record["bnb_4bit_compute_dtype"] = getattr(torch, record["bnb_4bit_compute_dtype"])
tokenizer = AutoTokenizer.from_pretrained(f"{run}/model/adapter")
batch = tokenizer(texts, padding=True, truncation=True, return_tensors="pt")
result = {}
for name, quantization in (("4bit", BitsAndBytesConfig(**record)), ("full", None)):
    base = AutoModelForSequenceClassification.from_pretrained(
        f"{run}/model/adapter/base", trust_remote_code=True, quantization_config=quantization
    )
    for module in base.modules():  # bnb's CPU repacking needs layers 64 wide; these are 32
        if hasattr(module, "support_avx512bf16_for_cpu"):
            module.support_avx512bf16_for_cpu = False
    model = PeftModel.from_pretrained(base, f"{run}/model/adapter").eval()
    with torch.no_grad():
        result[name] = model(**batch).logits.softmax(-1).tolist()
assert not any(name == "runner" or name.startswith("runner.") for name in sys.modules), "ftrun was imported"
print(json.dumps(result))
"""


def test_plain_peft_loads_the_adapter_over_the_saved_base_in_4bit_and_in_full_precision(
    tiny_llama, data_folder, tmp_path
):
    recipe = tiny_recipe(tiny_llama, data_folder, tmp_path, "qlora", eval={"latency_examples": 0})
    folder = run_recipe(recipe, Path("plain.toml"))
    texts = [json.loads(line)["text"] for line in (data_folder / "test.jsonl").read_text().splitlines()]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {
        "HF_HUB_OFFLINE": "1",
        "HF_MODULES_CACHE": str(tmp_path / ".hf-modules"),
    }
    done = subprocess.run(
        [sys.executable, "-c", PLAIN_PEFT, str(folder), json.dumps(texts)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.splitlines()[-1])
    expected = saved_probabilities(folder)
    torch.testing.assert_close(torch.tensor(result["4bit"]), expected, atol=1e-5, rtol=1e-5)
    full = torch.tensor(result["full"])  # the unquantised base: another model, near the trained one
    assert full.shape == expected.shape and torch.allclose(full.sum(-1), torch.ones(len(texts)))


def test_missing_bitsandbytes_is_one_line_naming_the_extra(tiny_llama, data_folder, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "bitsandbytes", None)  # `import bitsandbytes` raises ImportError
    recipe = tiny_recipe(tiny_llama, data_folder, tmp_path, "qlora")
    with pytest.raises(ModelError, match=r"pip install 'ftrun\[qlora\]'") as raised:
        run_recipe(recipe, Path("qlora.toml"))
    assert len(str(raised.value).splitlines()) == 1


def test_a_model_bitsandbytes_cannot_quantise_is_a_model_error(
    tiny_llama, data_folder, tmp_path, monkeypatch
):
    import transformers

    def refuse(*args, **kwargs):
        raise ValueError("bitsandbytes cannot quantise this layer\nmore detail")

    monkeypatch.setattr(transformers.AutoModel, "from_pretrained", refuse)
    recipe = tiny_recipe(tiny_llama, data_folder, tmp_path, "qlora")
    with pytest.raises(ModelError, match="quantised to 4 bits: bitsandbytes cannot quantise this layer$"):
        run_recipe(recipe, Path("qlora.toml"))


def test_a_model_with_no_linear_layers_to_quantise_is_a_model_error(monkeypatch):
    from runner.methods import qlora

    monkeypatch.setattr(
        __import__("transformers").AutoModel, "from_pretrained", lambda *a, **k: torch.nn.Embedding(3, 2)
    )
    record = qlora.quantization_record(qlora.QloraOptions())
    with pytest.raises(ModelError, match="no linear layers bitsandbytes can quantise"):
        qlora.load_in_4bit("somewhere", record, torch.float32, "somewhere")


IMPORT_BITSANDBYTES = """
import sys
if sys.argv[1] == "quiet":
    from runner.console import quiet_libraries
    quiet_libraries()  # as a run does, before peft or transformers import bitsandbytes
import bitsandbytes
"""


def test_bitsandbytes_looking_for_its_hub_kernel_prints_nothing_in_a_run(tmp_path):
    def stderr_of_import(mode: str) -> str:
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(Path(__file__).parents[1])}
        done = subprocess.run(
            [sys.executable, "-c", IMPORT_BITSANDBYTES, mode], capture_output=True, text=True, env=env
        )
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stderr

    unquiet = stderr_of_import("plain")
    if "kernels-community" not in unquiet:
        pytest.skip("this bitsandbytes looks for no hub kernel here (no AVX-512 bf16 CPU, or no `kernels`)")
    assert stderr_of_import("quiet") == ""
