"""Texts as token ids, and the disk caches shared between runs: token ids of a tokenised split
(`id_cache`) and a frozen base's features (`feature_cache`).
"""
