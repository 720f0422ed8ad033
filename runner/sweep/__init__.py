"""Sweeps: a `[sweep]` table expanded into named combinations (`grid`), each checked as a recipe before
any trains (`combinations`), then run by an executor (`executors/`: this machine's processes, a SLURM
array; `settings` reads `[sweep.executor]`), each combination in a process of its own (`worker`, its
outcome in `outcomes`), into the sweep folder with a report at the end (`execution`, `reporting`).
"""
