"""Whole-or-nothing file writes for checkpoints.

A file is written to a temporary name beside its target and renamed over it, so readers see the
old file or the new one, never half of one. A writer killed midway (kill -9, power loss) leaves its
temporary behind; the temporary's name records the target and the writer's process id, and the
next write of the same target removes temporaries whose writer is gone, so they cannot pile up.
The file gets the permissions any new file gets under the process umask (mkstemp's 0600 would
make a -symbol.json private while its .params were not).
"""
from __future__ import annotations

import glob
import os
import tempfile
from typing import Callable


def write_atomic(path, write: Callable, binary: bool) -> None:
    """Calls `write(f)` on a temporary file beside `path`, then renames it over `path`.
    Raises OSError (the caller names the file in its own error)."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    prefix = _temp_prefix(path)
    _remove_abandoned(directory, prefix)
    fd, tmp = tempfile.mkstemp(prefix=f"{prefix}{os.getpid()}-", dir=directory)
    try:
        with os.fdopen(fd, "wb" if binary else "w", **({} if binary else {"encoding": "utf-8"})) as f:
            write(f)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _temp_prefix(path: str) -> str:
    return f".{os.path.basename(path)}.tmp-"


def _remove_abandoned(directory: str, prefix: str) -> None:
    """Deletes temporaries of this target left by writers that no longer run."""
    for stale in glob.glob(os.path.join(glob.escape(directory), glob.escape(prefix) + "*")):
        pid_text = os.path.basename(stale)[len(prefix):].split("-", 1)[0]
        if pid_text.isdigit() and not _process_alive(int(pid_text)):
            try:
                os.unlink(stale)
            except OSError:
                pass


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True  # another user's live process (or a number we cannot ask about): keep it
    return True


def _umask() -> int:
    """The process umask, read without changing it (os.umask would race with other threads)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
