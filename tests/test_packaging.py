"""The wheel built from the checkout holds every module of `runner` and each one imports from it."""

from __future__ import annotations

import subprocess
import sys
import zipfile

import pytest

from .conftest import REPO

pytestmark = pytest.mark.slow  # builds a wheel and imports torch, transformers and peft afresh


def runner_modules() -> list[str]:
    names = []
    for path in sorted((REPO / "runner").rglob("*.py")):
        parts = path.relative_to(REPO).with_suffix("").parts
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def test_the_wheel_contains_and_imports_every_module(tmp_path):
    build = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q"]
    subprocess.run([*build, "-w", str(tmp_path / "dist"), str(REPO)], check=True, capture_output=True)
    (wheel,) = (tmp_path / "dist").glob("ftrun-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        packed = {name for name in archive.namelist() if name.startswith("runner/")}
        archive.extractall(tmp_path / "unpacked")
    modules = runner_modules()
    expected = {
        name.replace(".", "/") + ("/__init__.py" if (REPO / name.replace(".", "/")).is_dir() else ".py")
        for name in modules
    }
    assert expected <= packed
    # A fresh interpreter whose first path entry is the unpacked wheel: each module must come from it.
    check = (
        "import importlib, sys\n"
        f"sys.path.insert(0, {str(tmp_path / 'unpacked')!r})\n"
        f"for name in {modules!r}:\n"
        "    module = importlib.import_module(name)\n"
        f"    assert module.__file__.startswith({str(tmp_path / 'unpacked')!r}), module.__file__\n"
        "print(len(sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", check], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
