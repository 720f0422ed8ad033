"""ftrun: a declarative fine-tuning runner for language-model classifiers."""

__version__ = "0.1.0"
