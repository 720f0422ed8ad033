"""Fine-tuning methods, one small plugin each (`base.Method` says what a method decides). Adding a
method: a module here and one line in `runner/registry.py`'s `METHODS`."""
