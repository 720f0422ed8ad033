"""The classifier (a transformers backbone, a pooling rule, a head) and its life as a Hugging Face model
folder: written with its model card, reloaded for `predict` and `eval`; and where it computes: the
precision the hardware takes (`precision`), ftrun's CPU dropout and attention kernels (`cpu_dropout`).

`modeling_ftrun.py` keeps its name: every saved folder carries a copy and its config.json names it.
"""
