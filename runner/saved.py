"""Reload a run's saved model with plain transformers/peft plus the head file.

The same steps by hand (for a user without ftrun) are in the README under "Loading a saved model".
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from runner.model import Classifier, load_head


def load_saved(model_dir: str | Path) -> tuple[Classifier, Any]:
    """The classifier and tokenizer saved in a run's `model/` folder, in eval mode."""
    from transformers import AutoModel, AutoTokenizer

    folder = Path(model_dir)
    head, description = load_head(folder)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    if (folder / "adapter_config.json").exists():
        from peft import PeftModel

        base = AutoModel.from_pretrained(description["base_model"], gguf_file=description["gguf_file"])
        backbone = PeftModel.from_pretrained(base, folder)
    elif (folder / "config.json").exists():
        backbone = AutoModel.from_pretrained(folder)
    else:  # frozen-base methods save only the head: the base is the original model
        backbone = AutoModel.from_pretrained(description["base_model"], gguf_file=description["gguf_file"])
    if getattr(backbone.config, "pad_token_id", None) is None:
        backbone.config.pad_token_id = tokenizer.pad_token_id
    return Classifier(backbone, head, description["pooling"]).eval(), tokenizer
