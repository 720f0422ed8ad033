"""Who runs a combination, and whether a sweep folder can be shared: claims, the manifest, a probe.

Two launchers on one sweep (two terminals, a SLURM array and a local rerun) must never run one
combination twice, and a worker killed mid-run must not leave a claim that blocks the next start.
An `flock` on `<sweep folder>/.sweep/<combination>.lock`, held by the process that runs it, gives both:
the kernel drops it when that process dies, however it dies, and NFS carries it between machines.
`fcntl` directly rather than the filelock package: where a filesystem has no flock, filelock falls
back to a lock file that a killed worker leaves behind; here that filesystem is named in one line.

The manifest (`.sweep/sweep.json`) names the sweep file that owns the folder and its combinations, so
a second sweep pointed at the same folder is refused and `compare` can name the unfinished ones.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import secrets
import socket
from pathlib import Path
from typing import Any

from runner import rundir
from runner.errors import RunFolderError

STATE = ".sweep"  # inside the sweep folder: claims, the manifest, each combination's outcome and log
MANIFEST = "sweep.json"
STAGE_FOLDERS = ("search", "confirm")  # runner.sweep.adaptive's stages
_NO_LOCKS = {errno.ENOSYS, errno.ENOLCK, errno.EOPNOTSUPP, errno.EINVAL}


def state_folder(sweep_folder: Path) -> Path:
    return sweep_folder / STATE


def log_file(sweep_folder: Path, name: str) -> Path:
    return state_folder(sweep_folder) / "logs" / f"{name}.log"


def last_line(log: Path) -> str:
    """The last line a combination's process wrote to its log (its progress, or its last words)."""
    try:
        with log.open("rb") as handle:
            handle.seek(max(handle.seek(0, os.SEEK_END) - 4096, 0))
            tail = handle.read().decode("utf-8", "replace")
    except OSError:
        return ""
    lines = [line.strip() for line in tail.replace("\r", "\n").splitlines() if line.strip()]
    return lines[-1] if lines else ""


class Claim:
    """A combination held by this process until `release()` or the process's end."""

    def __init__(self, handle: int) -> None:
        self.handle = handle

    def release(self) -> None:
        with contextlib.suppress(OSError):
            fcntl.flock(self.handle, fcntl.LOCK_UN)
        os.close(self.handle)


def claim(sweep_folder: Path, name: str) -> Claim | None:
    """This process's claim on the combination, or None where another process holds it."""
    path = state_folder(sweep_folder) / f"{name}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as error:
        os.close(handle)
        if error.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            return None
        raise _no_locks(sweep_folder, error) from None
    os.ftruncate(handle, 0)  # who holds it, for a person looking: the lock itself is the flock
    os.write(handle, f"{socket.gethostname()} {os.getpid()}\n".encode())
    return Claim(handle)


def is_claimed(sweep_folder: Path, name: str) -> bool:
    """Whether another process runs the combination now (a quick look: `claim` is what decides)."""
    held = claim(sweep_folder, name)
    if held is not None:
        held.release()
    return held is None


def check_sweep_folder(
    sweep_folder: Path, sweep_path: Path, combinations: dict[str, str], take_over: bool
) -> None:
    """The folder can hold this sweep: renames are atomic, locks work, no other sweep's runs are there.

    `combinations` maps each name to its recipe's fingerprint. Another sweep file whose combinations of
    the same names have other recipes owns the folder; one with the same recipes (the same sweep sent
    to SLURM by a file that extends it) may continue it.
    """
    state = state_folder(sweep_folder)
    try:
        state.mkdir(parents=True, exist_ok=True)
        _probe_rename(state)
    except OSError as error:
        raise RunFolderError(
            f"{sweep_folder}: files cannot be renamed into place there ({error.strerror or error}); "
            "a crash would leave half-written run files: put output.dir on a local disk or NFS"
        ) from None
    probe = claim(sweep_folder, ".probe")
    if probe is not None:
        probe.release()
    owner = read_manifest(sweep_folder)
    here = sweep_path.resolve()
    if owner and not take_over and Path(owner["recipe"]) != here and Path(owner["recipe"]).exists():
        theirs = owner["combinations"]
        clashes = [name for name, print_ in combinations.items() if theirs.get(name, print_) != print_]
        if clashes:
            raise RunFolderError(
                f"{sweep_folder} holds the runs of the sweep {owner['recipe']}; {sweep_path} would mix "
                f"other runs with them ({clashes[0]} differs): give it another output.run_name, or "
                "--overwrite to take the folder over"
            )
    rundir.write_json(state / MANIFEST, {"recipe": str(here), "combinations": combinations})


def read_manifest(sweep_folder: Path) -> dict[str, Any] | None:
    """The sweep that owns the folder and its combinations (name -> recipe fingerprint), or None."""
    try:
        manifest = json.loads((state_folder(sweep_folder) / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    ok = isinstance(manifest, dict) and isinstance(manifest.get("combinations"), dict)
    return manifest if ok and isinstance(manifest.get("recipe"), str) else None


def unstarted(directories: list[Path]) -> list[tuple[Path, str]]:
    """Combinations of the sweeps under `directories` that have no folder yet, for `compare` to name."""
    missing = []
    for directory in directories:
        for path in sorted(directory.rglob(f"{STATE}/{MANIFEST}")):
            folder = path.parent.parent
            manifest = read_manifest(folder)
            if manifest is None:
                continue
            for name in manifest["combinations"]:
                # An adaptive search's runs sit in its stage's subfolder ("search", "confirm").
                if not any((folder / stage / str(name)).exists() for stage in ("", *STAGE_FOLDERS)):
                    missing.append((folder / str(name), f"not started yet (sweep {manifest['recipe']})"))
    return missing


def _probe_rename(state: Path) -> None:
    source, target = state / f".rename-probe.{secrets.token_hex(4)}", state / ".rename-probe"
    source.write_text("probe")
    try:
        os.replace(source, target)
    finally:
        source.unlink(missing_ok=True)


def _no_locks(sweep_folder: Path, error: OSError) -> RunFolderError:
    if error.errno not in _NO_LOCKS:
        return RunFolderError(f"{sweep_folder}: cannot lock a combination: {error}")
    return RunFolderError(
        f"{sweep_folder}: its filesystem has no file locks ({error.strerror}); two launchers could run one "
        "combination twice: mount it with locking (Lustre: -o flock) or put output.dir elsewhere"
    )
