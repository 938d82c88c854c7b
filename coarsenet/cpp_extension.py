"""Build and load a user op library from C++ sources with one call.

    names = cn.cpp_extension.load("my_ops", ["my_ops.cc"])   # -> ["ScaledTanh"]
    y = cn.nd.ScaledTanh(x, scale=2.0)

The sources are compiled with the system C++ compiler (`$CXX`, else `c++`) against the SDK
headers shipped in the package, into a cache directory (`$COARSENET_EXTENSIONS_DIR`, else
`~/.cache/coarsenet/extensions`). The file name carries a hash of everything that changes the
binary: the sources' contents, the flags, the compiler's identity, the op ABI version and the SDK
headers. A second `load` of unchanged sources (in any process) just loads the cached library.

Two processes building the same library at once are safe: each holds a lock file while it
compiles into a temporary file that is then renamed into place, so a reader never sees a
half-written library.

One limitation follows from never unloading libraries: within one process, a library whose op
names are already registered cannot be loaded again after its sources changed; restart Python.
"""
from __future__ import annotations

import fcntl
import hashlib
import os
import shlex
import subprocess
import tempfile
import time
from collections.abc import Sequence

from . import _core
from .base import CoarsenetError
from .sdk import get_include, load_op_library

# Like the core: optimised for this machine. Append e.g. "-march=x86-64" to extra_cflags for a
# portable library (the last -march wins).
DEFAULT_CFLAGS = ("-O3", "-std=c++17", "-fPIC", "-shared", "-fvisibility=hidden",
                  "-fvisibility-inlines-hidden", "-march=native")
_HEADER_SUFFIXES = (".h", ".hh", ".hpp", ".hxx", ".inl")

_compiler_ids: dict[tuple, str] = {}


def default_build_root() -> str:
    root = os.environ.get("COARSENET_EXTENSIONS_DIR")
    if root:
        return root
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(cache, "coarsenet", "extensions")


def _compiler() -> list[str]:
    return shlex.split(os.environ.get("CXX") or "c++")


def _compiler_identity(cxx: list[str]) -> str:
    key = tuple(cxx)
    if key not in _compiler_ids:
        try:
            out = subprocess.run(cxx + ["--version"], capture_output=True, text=True, check=True)
        except (OSError, subprocess.CalledProcessError) as e:
            raise CoarsenetError(
                f"cpp_extension: cannot run the C++ compiler {' '.join(cxx)!r} ({e}); install "
                "one or point $CXX at it") from None
        _compiler_ids[key] = out.stdout
    return _compiler_ids[key]


def _cpu_identity() -> str:
    """The CPU model and feature flags that -march=native compiles for."""
    try:
        with open("/proc/cpuinfo") as f:
            lines = [ln for ln in f.read().splitlines()
                     if ln.startswith(("model name", "flags", "Features", "CPU part"))]
        return "\n".join(sorted(set(lines)))
    except OSError:
        import platform

        return platform.machine() + " " + platform.processor()


def _sdk_headers() -> list[str]:
    sdk = os.path.join(get_include(), "coarsenet")
    return sorted(os.path.join(sdk, f) for f in os.listdir(sdk))


def _build_key(name: str, sources: list[str], cflags: list[str], ldflags: list[str],
               cxx: list[str]) -> str:
    """Hash of everything that changes the built library."""
    h = hashlib.sha256()

    def add(label: str, data: bytes) -> None:
        h.update(label.encode() + b"\0" + len(data).to_bytes(8, "little") + data)

    add("name", name.encode())
    for path in sources:
        with open(path, "rb") as f:
            add("source " + os.path.basename(path), f.read())
    add("cflags", "\0".join(cflags).encode())
    add("ldflags", "\0".join(ldflags).encode())
    add("compiler", " ".join(cxx).encode() + b"\n" + _compiler_identity(cxx).encode())
    add("abi", f"{_core.ABI_VERSION_MAJOR}.{_core.ABI_VERSION_MINOR}".encode())
    if any(f.startswith(("-march=native", "-mcpu=native", "-mtune=native")) for f in cflags):
        add("cpu", _cpu_identity().encode())  # a shared cache must not hand out foreign code
    for header in _sdk_headers():
        with open(header, "rb") as f:
            add("sdk " + os.path.basename(header), f.read())
    return h.hexdigest()[:20]


def build(name: str, sources: Sequence[str], extra_cflags: Sequence[str] | None = None,
          extra_ldflags: Sequence[str] | None = None, build_directory: str | None = None,
          verbose: bool = False) -> str:
    """Compiles `sources` into a shared op library (or finds it in the cache); returns its path.

    Header files among `sources` are not compiled but are part of the cache key, so list the
    local headers your sources include to rebuild when they change.
    """
    if not name or not name.replace("_", "").isalnum():
        raise CoarsenetError(f"cpp_extension: name must be letters, digits and '_', found {name!r}")
    sources = [os.path.abspath(os.fspath(s)) for s in ([sources] if isinstance(sources, str)
                                                       else sources)]
    if not sources:
        raise CoarsenetError(f"cpp_extension: no sources given for '{name}'")
    for s in sources:
        if not os.path.isfile(s):
            raise CoarsenetError(f"cpp_extension: source file {s} of '{name}' not found")
    cxx = _compiler()
    cflags = list(DEFAULT_CFLAGS) + ["-I" + get_include()] + list(extra_cflags or [])
    ldflags = list(extra_ldflags or [])
    root = os.path.abspath(build_directory or default_build_root())
    os.makedirs(root, exist_ok=True)
    target = os.path.join(root, f"{name}-{_build_key(name, sources, cflags, ldflags, cxx)}.so")
    if os.path.exists(target):
        if verbose:
            print(f"cpp_extension: using cached {target}")
        return target

    # One builder at a time per library; the others wait, then find the finished file.
    with open(target[:-3] + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not os.path.exists(target):
                _compile(name, cxx, cflags, ldflags, sources, target, root, verbose)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return target


def _compile(name, cxx, cflags, ldflags, sources, target, root, verbose) -> None:
    compiled = [s for s in sources if not s.endswith(_HEADER_SUFFIXES)]
    fd, tmp = tempfile.mkstemp(prefix=f".{name}-", suffix=".so.tmp", dir=root)
    os.close(fd)
    command = cxx + cflags + compiled + ["-o", tmp] + ldflags
    if verbose:
        print("cpp_extension:", " ".join(shlex.quote(c) for c in command))
    start = time.perf_counter()
    try:
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise CoarsenetError(
                f"cpp_extension: building '{name}' from {', '.join(compiled)} failed (exit code "
                f"{result.returncode}).\ncommand: {' '.join(shlex.quote(c) for c in command)}\n"
                f"{result.stdout}{result.stderr}")
        os.replace(tmp, target)  # atomic: other processes see no library or a whole one
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    if verbose:
        print(f"cpp_extension: built {target} in {time.perf_counter() - start:.1f} s")


def load(name: str, sources: Sequence[str], extra_cflags: Sequence[str] | None = None,
         extra_ldflags: Sequence[str] | None = None, build_directory: str | None = None,
         verbose: bool = False) -> list[str]:
    """Builds (or finds in the cache) and loads an op library; returns the names of its ops,
    which are then available as cn.nd.<Op>, cn.sym.<Op> and in cn.ops.list()."""
    path = build(name, sources, extra_cflags, extra_ldflags, build_directory, verbose)
    return load_op_library(path)
