"""Where Numba keeps the compiled kernels: a folder named by a hash of every kernel source.

Numba's ``cache=True`` checks only the file that defines a function, so a kernel whose helper in
another file changed (``cpu/jit.py``, ``cpu/vexp.py``) would go on loading the old machine code
after an edit or a ``git pull``. Here every function defined under ``kernels/`` is cached in

    <root>/<hash>/<folder under kernels/>/        e.g. ~/.cache/steprnn/numba/3f2a9c0e5b7d1e44/cpu/

where ``<hash>`` covers the content of every file under ``kernels/`` and the Python, NumPy, Numba
and llvmlite versions: any change selects a fresh folder, and the kernels compile once again.
``<root>`` is the first writable of

1. ``$STEPRNN_CACHE_DIR``, or else ``$NUMBA_CACHE_DIR/steprnn`` when the user set Numba's;
   otherwise ``$XDG_CACHE_HOME/steprnn/numba`` (``~/.cache/steprnn/numba``; the platform's cache
   folder outside Linux);
2. a private folder in the temporary directory, ``<tmp>/steprnn-<uid>/numba`` (mode 0700);

and with neither, the kernels are compiled in every process (one ``KernelCacheWarning``). Nothing
is ever written next to the sources, so a read-only install works and ``pip uninstall`` leaves no
folder behind. At import, old hash folders are pruned: the ``KEEP`` most recently used stay, and
so does any used in the last ``GRACE_S`` seconds (another process or checkout may be using it).

Only functions defined under ``kernels/`` get this locator; Numba caches the user's own functions
exactly as before. The same files imported under another name than ``steprnn.kernels`` (a script
that puts the repository on ``sys.path`` and imports ``kernels``) cache in ``<hash>/imported-as/<name>/``:
their compiled code names modules the package cannot import, and would break its loads. (A ``NUMBA_CACHE_LOCATOR_CLASSES`` setting replaces every locator, ours too.)
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import stat
import sys
import tempfile
import time
import warnings

import llvmlite
import numba
import numpy
from numba.core import caching, config
from numba.misc.appdirs import AppDirs

__all__ = ["CACHE_DIR", "ENABLED", "GRACE_S", "KEEP", "KernelCacheLocator", "KernelCacheWarning", "install_locator",
           "prune", "source_hash"]

#: the kernels' source folder, symlinks resolved
KERNELS_DIR = os.path.dirname(os.path.realpath(__file__))
#: the name the kernels are imported under (``steprnn.kernels``): only functions of its modules
#: share the hash folder's entries (see ``KernelCacheLocator.from_function``)
PACKAGE = "steprnn.kernels"
#: hash folders kept at least (the most recently used)
KEEP = 4
#: a folder used this recently is never pruned (seconds)
GRACE_S = 3600.0
_HASH_LENGTH = 16
_HASH_NAME = re.compile(rf"^[0-9a-f]{{{_HASH_LENGTH}}}$")


class KernelCacheWarning(UserWarning):
    """No writable folder for the compiled kernels: they are compiled in every process."""


def _source_files(root: str) -> list[str]:
    """Every file under ``root`` that can change what compiles, as sorted '/'-separated paths."""
    found = []
    for folder, subfolders, files in os.walk(root):
        subfolders[:] = [d for d in subfolders if d != "__pycache__" and not d.startswith(".")]
        for name in files:
            if name.startswith(".") or name.endswith((".pyc", ".pyo")):
                continue
            found.append(os.path.relpath(os.path.join(folder, name), root).replace(os.sep, "/"))
    return sorted(found)


def source_hash(root: str = KERNELS_DIR) -> str:
    """16 hex digits naming the kernel sources under ``root`` and the versions that compile them."""
    digest = hashlib.sha256()
    for version in (sys.version, numpy.__version__, numba.__version__, llvmlite.__version__):
        digest.update(version.encode() + b"\0")
    for rel in _source_files(root):
        with open(os.path.join(root, rel), "rb") as f:
            content = f.read()
        digest.update(rel.encode() + b"\0" + hashlib.sha256(content).digest())
    return digest.hexdigest()[:_HASH_LENGTH]


def _private_temp_root() -> str | None:
    """``<tmp>/steprnn-<uid>/numba``, in a folder that only this user can write (None if unsafe)."""
    uid = os.getuid() if hasattr(os, "getuid") else None
    base = os.path.join(tempfile.gettempdir(), "steprnn" if uid is None else f"steprnn-{uid}")
    try:
        os.makedirs(base, mode=0o700, exist_ok=True)
        st = os.lstat(base)
    except OSError:
        return None
    # a shared /tmp: never load machine code from a folder that someone else could have filled
    if not stat.S_ISDIR(st.st_mode) or (uid is not None and (st.st_uid != uid or st.st_mode & 0o022)):
        return None
    return os.path.join(base, "numba")


def _usable(path: str) -> bool:
    """Create ``path`` if needed and check that a file can be written in it."""
    try:
        os.makedirs(path, exist_ok=True)
        tempfile.TemporaryFile(dir=path).close()
    except OSError:
        return False
    return True


def prune(root: str, current: str, keep: int = KEEP, grace_s: float = GRACE_S) -> list[str]:
    """Remove the hash folders of ``root`` beyond the ``keep`` most recently used (``current``
    included), except those used within ``grace_s`` seconds. Other entries are never touched.
    Returns the removed paths."""
    others = []
    try:
        names = os.listdir(root)
    except OSError:
        return []
    for name in names:
        if name == current or not _HASH_NAME.match(name):
            continue
        path = os.path.join(root, name)
        try:
            st = os.lstat(path)
        except OSError:
            continue
        if stat.S_ISDIR(st.st_mode):
            others.append((st.st_mtime, path))
    others.sort(reverse=True)
    now = time.time()
    removed = []
    for mtime, path in others[max(keep - 1, 0):]:
        if now - mtime > grace_s:
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def _choose_cache_dir(key: str) -> tuple[str | None, str | None]:
    """(the hash folder to use or None, a warning to give or None)."""
    explicit = os.environ.get("STEPRNN_CACHE_DIR") or (
        os.path.join(config.CACHE_DIR, "steprnn") if config.CACHE_DIR else None)
    tried = []
    roots = [explicit] if explicit else [os.path.join(AppDirs("steprnn", appauthor=False).user_cache_dir, "numba")]
    roots.append(_private_temp_root())
    for root in roots:
        if root is None:
            continue
        path = os.path.join(root, key)
        if _usable(path):
            try:
                os.utime(path)  # mark it used (pruning keeps the most recently used)
            except OSError:
                pass
            prune(root, key)
            note = None
            if explicit and root != explicit:
                note = (f"steprnn: the kernel cache folder {explicit!r} is not writable; "
                        f"using {root!r} instead")
            return path, note
        tried.append(root)
    return None, (
        "steprnn: no writable folder for the compiled kernels (tried "
        + ", ".join(repr(t) for t in tried)
        + "); they will be compiled again in every process (about a minute). "
        "Set STEPRNN_CACHE_DIR to a writable folder to keep them.")


class KernelCacheLocator(caching._CacheLocator):
    """Numba cache locator for the functions defined under ``kernels/`` (see the module doc)."""

    steprnn_kernels_dir = KERNELS_DIR

    def __init__(self, py_func, py_file: str, cache_path: str):
        self._py_file = py_file
        self._lineno = py_func.__code__.co_firstlineno
        self._cache_path = cache_path

    def get_cache_path(self) -> str:
        return self._cache_path

    def get_source_stamp(self) -> str:
        return SOURCE_HASH  # the folder is named by it already; Numba also stores and compares it

    def get_disambiguator(self) -> str:
        return str(self._lineno)

    @classmethod
    def from_function(cls, py_func, py_file: str):
        if CACHE_DIR is None:
            return None
        real = os.path.realpath(py_file)
        try:
            if os.path.commonpath([real, KERNELS_DIR]) != KERNELS_DIR:
                return None
        except ValueError:  # different drives
            return None
        sub = os.path.relpath(os.path.dirname(real), KERNELS_DIR)
        where = os.path.join(CACHE_DIR, sub)
        module = getattr(py_func, "__module__", None) or ""
        if not module.startswith(PACKAGE + "."):
            # the same file imported under another name (a script with the repository on sys.path
            # importing ``kernels.cpu.…``): its compiled code refers to that module, which the
            # package cannot import, so it must not share the package's entries
            where = os.path.join(CACHE_DIR, "imported-as", module.split(".")[0] or "_", sub)
        self = cls(py_func, py_file, os.path.normpath(where))
        try:
            self.ensure_cache_path()
        except OSError:
            pass  # checked writable at import; Numba retries when it saves
        return self


def install_locator(cache_impl: type = caching.CacheImpl) -> None:
    """Put ``KernelCacheLocator`` first in ``cache_impl``'s list of locators (once).

    Numba's CPU dispatchers use ``numba.core.caching.CacheImpl`` (done at import); numba-cuda has
    its own copy, ``numba.cuda.core.caching.CacheImpl``, for ``cuda.jit(cache=True)`` kernels.
    """
    classes = list(cache_impl._locator_classes)
    if any(getattr(c, "steprnn_kernels_dir", None) == KERNELS_DIR for c in classes):
        return
    cache_impl._locator_classes = [KernelCacheLocator, *classes]


#: the hash of the kernel sources and versions (names the cache folder)
SOURCE_HASH = source_hash()
#: the folder the kernels are cached in, or None when nothing is writable
CACHE_DIR, _note = _choose_cache_dir(SOURCE_HASH)
#: whether the kernels use Numba's cache (``cache=`` in ``cpu/jit.py``'s options)
ENABLED = CACHE_DIR is not None
if _note:
    warnings.warn(_note, KernelCacheWarning, stacklevel=2)
install_locator()
