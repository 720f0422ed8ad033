"""Pooling, decoder padding, head sizing and GGUF loading, on tiny models built from configs."""

from __future__ import annotations

import pytest
import torch

from runner.model.classifier import (
    Classifier,
    Head,
    choose_pooling,
    hidden_size,
    load_backbone,
    load_tokenizer,
    pool,
    resolve_source,
)
from runner.recipe.schema import EMBEDDED_GGUF_MODEL, ModelSection
from runner.training.batches import collate

TEXTS = [
    "a short one",
    "a much longer text that needs quite a few more tokens than the first",
    "mid length text",
]


def classifier_for(folder) -> tuple[Classifier, object]:
    source = resolve_source(ModelSection(name=str(folder)))
    tokenizer = load_tokenizer(source)
    backbone = load_backbone(source, "float32", tokenizer.pad_token_id)
    head = Head(hidden_size(backbone), 8, 2, 0.0)
    return Classifier(backbone, head, choose_pooling("auto", backbone.config)).eval(), tokenizer


def logits(classifier: Classifier, tokenizer, texts: list[str]) -> torch.Tensor:
    rows = [{"index": i, "input_ids": ids, "label": 0} for i, ids in enumerate(tokenizer(texts)["input_ids"])]
    batch = collate(rows, tokenizer.pad_token_id)
    with torch.no_grad():
        return classifier(batch["input_ids"], batch["attention_mask"])


def test_mean_pooling_ignores_padding():
    hidden = torch.tensor([[[1.0], [3.0], [100.0]]])
    assert pool(hidden, torch.tensor([[1, 1, 0]]), "mean").item() == 2.0


@pytest.mark.parametrize("mask, expected", [([1, 1, 0, 0], 2.0), ([0, 0, 1, 1], 4.0), ([1, 1, 1, 1], 4.0)])
def test_last_token_pooling_finds_the_last_real_token_on_either_padding_side(mask, expected):
    hidden = torch.tensor([[[1.0], [2.0], [3.0], [4.0]]])
    assert pool(hidden, torch.tensor([mask]), "last").item() == expected


def test_auto_pooling_is_mean_for_encoders_and_last_for_decoders(tiny_bert, tiny_llama, tiny_opt):
    assert classifier_for(tiny_bert)[0].pooling == "mean"
    assert classifier_for(tiny_llama)[0].pooling == "last"
    assert classifier_for(tiny_opt)[0].pooling == "last"


def test_decoder_without_pad_token_gets_one(tiny_llama):
    source = resolve_source(ModelSection(name=str(tiny_llama)))
    assert load_tokenizer(source).pad_token is not None


@pytest.mark.parametrize("fixture", ["tiny_llama", "tiny_opt", "tiny_bert"])
def test_batched_predictions_equal_one_at_a_time(fixture, request):
    classifier, tokenizer = classifier_for(request.getfixturevalue(fixture))
    batched = logits(classifier, tokenizer, TEXTS)
    single = torch.cat([logits(classifier, tokenizer, [text]) for text in TEXTS])
    torch.testing.assert_close(batched, single, atol=1e-5, rtol=1e-4)


def test_head_is_sized_from_the_projected_width_of_opt(tiny_opt):
    classifier, _ = classifier_for(tiny_opt)
    assert classifier.head.in_features == 16  # word_embed_proj_dim, not hidden_size 32


def test_head_has_the_seed_hidden_layer_or_a_single_linear_layer():
    with_hidden = Head(32, 1000, 2, 0.1)
    assert [m.out_features for m in with_hidden.modules() if isinstance(m, torch.nn.Linear)] == [1000, 2]
    assert [m.out_features for m in Head(32, 0, 3, 0.1).modules() if isinstance(m, torch.nn.Linear)] == [3]


def test_missing_local_model_folder_is_a_model_error():
    from runner.errors import ModelError

    with pytest.raises(ModelError, match="./no/model/here"):
        resolve_source(ModelSection(name="./no/model/here"))


@pytest.mark.slow
def test_embedded_gguf_decoder_classifies_batches_like_single_texts():
    pytest.importorskip("gguf")
    source = resolve_source(ModelSection(name=EMBEDDED_GGUF_MODEL))
    tokenizer = load_tokenizer(source)
    backbone = load_backbone(source, "float32", tokenizer.pad_token_id)
    assert backbone.config.model_type == "llama"
    torch.manual_seed(0)
    classifier = Classifier(
        backbone, Head(hidden_size(backbone), 0, 2, 0.0), choose_pooling("auto", backbone.config)
    ).eval()
    batched = logits(classifier, tokenizer, TEXTS[:2])
    single = torch.cat([logits(classifier, tokenizer, [text]) for text in TEXTS[:2]])
    torch.testing.assert_close(batched, single, atol=1e-4, rtol=1e-3)


def test_hub_model_id_passes_through_and_fails_offline_with_a_model_error():
    from runner.errors import ModelError

    source = resolve_source(ModelSection(name="facebook/opt-350m"))
    assert (source.name_or_path, source.gguf_file) == ("facebook/opt-350m", None)
    with pytest.raises(ModelError, match="facebook/opt-350m"):
        load_tokenizer(source)  # HF_HUB_OFFLINE=1 in tests: the hub cannot be reached


def test_lora_merges_into_a_plain_backbone_for_serving(tiny_bert):
    from runner import registry
    from runner.recipe.schema import Recipe

    classifier, tokenizer = classifier_for(tiny_bert)
    recipe = Recipe()
    recipe.method.name = "lora"
    lora = registry.method("lora")
    adapted = lora.prepare(classifier, recipe)
    before = logits(adapted, tokenizer, TEXTS)
    served = lora.for_inference(adapted)
    assert not any("lora" in name for name, _ in served.named_modules())
    torch.testing.assert_close(logits(served, tokenizer, TEXTS), before, atol=1e-5, rtol=1e-4)


def test_auto_pooling_is_mean_for_a_frozen_decoder(tiny_llama):
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(tiny_llama)
    assert choose_pooling("auto", config, frozen_base=True) == "mean"
    assert choose_pooling("last", config, frozen_base=True) == "last"  # asked for, not overridden
