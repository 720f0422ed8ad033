"""Task types, one module each (`single_label`, `multi_label`, `regression`): everything a task means,
from its targets to its metrics, prediction rows and saved `problem_type`, behind the `Task` class in
`base.py`. The rest of ftrun asks the task (`runner.registry.task(name)`) and names none.

The first stage: modules here import nothing of ftrun's but `runner.errors` and `runner.registry`;
numpy and torch are imported where a task computes, so listing tasks and metrics stays instant.
"""
