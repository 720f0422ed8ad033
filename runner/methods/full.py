"""`full`: every weight trains ("traditional" fine-tuning)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from runner.methods.base import Method
from runner.model import Classifier


class Full(Method):
    name = "full"

    def save(
        self, classifier: Classifier, tokenizer: Any, folder: Path, head_description: dict[str, Any]
    ) -> None:
        classifier.backbone.save_pretrained(folder)
        super().save(classifier, tokenizer, folder, head_description)
