"""Sweeps: a `[sweep]` table expanded into named combinations (`grid`), each checked as a recipe before
any trains (`combinations`), then run one by one into the sweep folder with a report at the end
(`execution`).
"""
