"""Training one run: what it loads (`loaded_run`), what the loop consumes (`inputs`, `batches`), the
loop itself (`loop`), its step arithmetic (`step_plan`), checkpoints, the best epoch on validation,
and the Accelerator that owns devices and processes (`accelerator`).
"""
