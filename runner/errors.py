"""User errors: each names the offending key, file or row and becomes one line at the CLI.

Anything that is not an FtrunError is a bug and is allowed to traceback.
"""

from __future__ import annotations


def first_line(error: BaseException) -> str:
    """A library's error as one line: the CLI prints user errors on a single line."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


class FtrunError(Exception):
    """A mistake in what the user gave us (recipe, data, paths), never a bug.

    It may carry several problems (a recipe with three typos reports all three); the CLI prints
    each on a line of its own.
    """

    def __init__(self, *problems: str) -> None:
        super().__init__("\n".join(problems))
        self.problems = list(problems)


class RecipeError(FtrunError):
    """The recipe (or a --set override) is malformed, mistyped or out of range."""


class DataError(FtrunError):
    """The data set is missing, empty, or does not match the recipe."""


class ModelError(FtrunError):
    """The model cannot be found or loaded as the recipe asks."""


class RunFolderError(FtrunError):
    """A run folder is missing, unreadable or would be overwritten."""


class TrainingError(FtrunError):
    """Training cannot go on as the recipe asks (the loss diverged): a recipe change fixes it."""
