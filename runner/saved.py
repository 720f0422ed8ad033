"""Reload a run's saved model with plain transformers/peft plus the head file.

The same steps by hand (for a user without ftrun) are in the README under "Loading a saved model".
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from runner.model import Classifier, ModelSource, load_backbone, load_head, load_tokenizer


def load_saved(model_dir: str | Path) -> tuple[Classifier, Any]:
    """The classifier and tokenizer saved in a run's `model/` folder, in eval mode."""
    folder = Path(model_dir)
    head, description = load_head(folder)
    tokenizer = load_tokenizer(ModelSource(str(folder)))
    base = ModelSource(description["base_model"], description["gguf_file"])
    backbone: Any
    if (folder / "adapter_config.json").exists():
        from peft import PeftModel

        backbone = PeftModel.from_pretrained(load_backbone(base, "float32", tokenizer.pad_token_id), folder)
    elif (folder / "config.json").exists():
        backbone = load_backbone(ModelSource(str(folder)), "float32", tokenizer.pad_token_id)
    else:  # frozen-base methods save only the head: the base is the original model
        backbone = load_backbone(base, "float32", tokenizer.pad_token_id)
    return Classifier(backbone, head, description["pooling"]).eval(), tokenizer
