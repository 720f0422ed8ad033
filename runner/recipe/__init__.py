"""The recipe: its schema (every option, its default, type and help), reading TOML with `extends` and
`--set`, where a model or data name points, and split expressions such as `train[:2000]`.

Nothing here loads a model or data; `ftrun validate` and `ftrun show` stop at this stage.
"""
