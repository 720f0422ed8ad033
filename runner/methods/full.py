"""`full`: every weight trains ("traditional" fine-tuning)."""

from __future__ import annotations

from runner.methods.base import Method


class Full(Method):
    name = "full"
