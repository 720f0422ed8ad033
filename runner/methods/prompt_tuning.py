"""`prompt-tuning`: learned embeddings put before every text (peft's prompt tuning); the head trains too.

The base is frozen but not cached: the virtual tokens change what every layer computes, so gradients
flow through the whole base to them.

Prompt tuning rather than p-tuning or prefix tuning: its prompt is plain input embeddings, which the
saved standard folder puts before each text with torch and transformers alone
(`modeling_ftrun.SoftPrompt`), and it trains the fewest weights. P-tuning learns the same kind of
prompt through an extra encoder network (more weights and one more design choice, the same
embeddings in the end). Prefix tuning feeds keys and values into every layer through the attention
cache, an interface transformers is renaming (`past_key_values` becomes `cache`), so a folder built
on it would be the fragile one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runner.errors import ModelError
from runner.methods.base import Method
from runner.recipe.fields import option

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

    from runner.model.classifier import Classifier, ModelSource
    from runner.recipe.schema import Recipe


@dataclass
class PromptTuningOptions:
    prompt_tokens: int = option(20, "Virtual tokens put before every text.", minimum=1)
    prompt_init_text: str = option(
        "",
        "Text whose token embeddings start the prompt, repeated or cut to `prompt_tokens` "
        "(empty: the embeddings of tokens drawn at random from the vocabulary).",
    )


class PromptTuning(Method):
    name = "prompt-tuning"
    options = PromptTuningOptions
    defaults = {"train": {"lr": 1e-2, "head_lr": 0.0}}  # the head at the prompt's rate, as measured

    def check_model(self, recipe: Recipe, source: ModelSource) -> None:
        from runner.model.classifier import load_config

        tokens = self.own_options(recipe).prompt_tokens
        positions = getattr(load_config(source), "max_position_embeddings", None)
        if positions is not None and recipe.model.max_length + tokens > positions:
            raise ModelError(
                f"method.prompt_tokens: {tokens} virtual tokens before texts of up to "
                f"model.max_length = {recipe.model.max_length} tokens exceed the {positions} positions "
                f"of {recipe.model.name}; lower one of them"
            )

    def prepare(self, classifier: Classifier, recipe: Recipe) -> Classifier:
        from peft import PromptTuningConfig, PromptTuningInit, TaskType, get_peft_model

        from runner.model.classifier import hidden_size, resolve_source

        options = self.own_options(recipe)
        text = options.prompt_init_text
        source = resolve_source(recipe.model)
        config = PromptTuningConfig(
            # FEATURE_EXTRACTION: ftrun owns the head and pools the text's own positions.
            task_type=TaskType.FEATURE_EXTRACTION,
            num_virtual_tokens=options.prompt_tokens,
            # The input embeddings' width, which is not the hidden size everywhere (OPT-350m).
            token_dim=hidden_size(classifier.backbone),
            prompt_tuning_init=PromptTuningInit.TEXT if text else PromptTuningInit.SAMPLE_VOCAB,
            prompt_tuning_init_text=text or None,
            tokenizer_name_or_path=source.name_or_path if text else None,
            tokenizer_kwargs={"gguf_file": source.gguf_file} if text and source.gguf_file else None,
        )
        classifier.backbone = get_peft_model(classifier.backbone, config)  # freezes the base
        return classifier

    def save(
        self,
        classifier: Classifier,
        tokenizer: PreTrainedTokenizerBase,
        folder: Path,
        head_description: dict[str, Any],
    ) -> None:
        """The untouched base, the head and the learned prompt as one standard folder.

        No peft adapter beside it: peft's sequence-classification prompt tuning hands the base model
        the prompt and text already joined as embeddings, so ftrun's head could no longer tell the
        text's positions (which it pools) from the prompt's, nor find a text's last token.
        """
        from runner.model import hf_folder
        from runner.model.modeling_ftrun import SoftPrompt

        adapted = classifier.backbone
        learned = adapted.get_prompt_embedding_to_save("default")
        soft_prompt = SoftPrompt(*learned.shape)
        soft_prompt.embeddings.data.copy_(learned)
        # Peft's prompt learning drops token types, so the saved model is served without them too.
        description = head_description | {"soft_prompt_tokens": learned.shape[0], "token_types": False}
        config = hf_folder.ftrun_config(description, adapted.config)
        hf_folder.save_model_folder(
            folder, adapted.get_base_model(), classifier.head, tokenizer, config, soft_prompt
        )
