"""The kernels' Numba cache follows every kernel source (issue 16) and lives outside the package."""
from __future__ import annotations

import importlib.util
import json
import os
import shutil
import time
from pathlib import Path

import numba
import pytest

from steprnn.kernels import cache
from steprnn.kernels.cpu import jit, lstm, vexp

from isolation import clean_env, copy_package, run_python

KERNELS = Path(cache.KERNELS_DIR)


def _copy_kernels(dest: Path) -> Path:
    shutil.copytree(KERNELS, dest, ignore=shutil.ignore_patterns("__pycache__", "*.nbi", "*.nbc", "*.pyc"))
    return dest


def test_hash_covers_every_kernel_file_and_nothing_else(tmp_path):
    root = _copy_kernels(tmp_path / "kernels")
    first = cache.source_hash(str(root))
    assert first == cache.source_hash(str(root)) and len(first) == 16
    (root / "cpu" / "__pycache__").mkdir(exist_ok=True)
    (root / "cpu" / "__pycache__" / "jit.cpython-311.pyc").write_bytes(b"compiled")
    assert cache.source_hash(str(root)) == first, "Python's own caches must not change the hash"
    seen = {first}
    for rel in ("cpu/vexp.py", "cpu/jit.py", "cuda/__init__.py"):
        path = root / rel
        path.write_text(path.read_text() + "\n# edited\n")
        seen.add(cache.source_hash(str(root)))
    (root / "cpu" / "new_helper.py").write_text("x = 1\n")
    seen.add(cache.source_hash(str(root)))
    assert len(seen) == 5, "each edit, and a new file, must name a new cache folder"


def test_kernels_are_cached_outside_the_package():
    assert cache.ENABLED and cache.CACHE_DIR is not None
    assert Path(cache.CACHE_DIR).name == cache.SOURCE_HASH
    assert os.path.commonpath([os.path.realpath(cache.CACHE_DIR), str(KERNELS)]) != str(KERNELS)
    for kernel in (jit.project, vexp.exp_inplace, lstm.lstm_forward):
        path = kernel._cache.cache_path
        assert path.startswith(cache.CACHE_DIR), (kernel, path)


def test_users_own_functions_keep_numbas_cache(tmp_path):
    """Only files under kernels/ get the locator: a user's cached function still goes next to its file."""
    source = tmp_path / "user_module.py"
    source.write_text("from numba import njit\n\n@njit(cache=True)\ndef add_one(x):\n    return x + 1\n")
    spec = importlib.util.spec_from_file_location("user_module", source)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.add_one(1) == 2
    locator = module.add_one._cache._impl.locator
    assert not isinstance(locator, cache.KernelCacheLocator)
    assert Path(module.add_one._cache.cache_path) == tmp_path / "__pycache__"
    assert list((tmp_path / "__pycache__").glob("user_module.add_one-*.nbi"))


def test_kernels_imported_under_another_name_cache_apart():
    """A kernel file imported as ``kernels.cpu.…`` (the repository on sys.path) caches apart from
    the package's ``steprnn.kernels.cpu.…``: its entries name a module the package cannot import."""
    def fake(module):
        def f():
            return 1
        f.__module__ = module
        return f

    source = str(KERNELS / "cpu" / "row_sums.py")
    ours = cache.KernelCacheLocator.from_function(fake("steprnn.kernels.cpu.row_sums"), source)
    other = cache.KernelCacheLocator.from_function(fake("kernels.cpu.row_sums"), source)
    assert ours.get_cache_path() == os.path.join(cache.CACHE_DIR, "cpu")
    assert other.get_cache_path() == os.path.join(cache.CACHE_DIR, "imported-as", "kernels", "cpu")
    assert os.path.commonpath([other.get_cache_path(), ours.get_cache_path()]) == cache.CACHE_DIR


def _hash_dirs(root: Path) -> set[str]:
    return {p.name for p in root.iterdir() if p.is_dir() and len(p.name) == 16}


def test_prune_keeps_the_newest_and_the_recent(tmp_path):
    root = tmp_path / "cache"
    root.mkdir()
    now = time.time()
    names = [f"{i:016x}" for i in range(9)]
    for age_h, name in zip([0.1, 0.2, 5, 6, 7, 8, 9, 10, 11], names):
        (root / name / "cpu").mkdir(parents=True)
        (root / name / "cpu" / "k.nbi").write_bytes(b"x")
        os.utime(root / name, (now - age_h * 3600, now - age_h * 3600))
    (root / "notes").mkdir()  # not ours: never touched
    (root / ("f" * 16)).write_text("a file with a hash-like name")
    current = names[-1]  # the oldest, but in use
    removed = cache.prune(str(root), current, keep=4, grace_s=3600)
    left = _hash_dirs(root)
    # current + the 3 most recent others; the two used within the hour would stay anyway
    assert left == {current, names[0], names[1], names[2]}, left
    assert {Path(p).name for p in removed} == set(names[3:8])
    assert (root / "notes").is_dir() and (root / ("f" * 16)).is_file()
    # folders used within the grace period are never removed, however many there are
    for name in names[3:8]:
        (root / name).mkdir()
    assert cache.prune(str(root), current, keep=1, grace_s=3600) == [str(root / names[2])]
    assert _hash_dirs(root) == set(names) - {names[2]}


@pytest.mark.slow
def test_cache_folders_do_not_pile_up(tmp_path):
    """Importing the kernels prunes old hash folders of the cache root it uses."""
    root = tmp_path / "cache"
    old = time.time() - 30 * 24 * 3600
    for i in range(8):
        (root / f"{i:016x}").mkdir(parents=True)
        os.utime(root / f"{i:016x}", (old + i, old + i))
    env = clean_env(STEPRNN_CACHE_DIR=str(root))
    code = "import steprnn.kernels.cache as c; print(c.CACHE_DIR)"
    result = run_python(code, cwd=copy_package(tmp_path / "pkg"), env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    used = Path(result.stdout.strip().splitlines()[-1])
    assert used.parent == root
    left = _hash_dirs(root)
    assert len(left) == cache.KEEP and used.name in left
    assert left - {used.name} == {f"{i:016x}" for i in range(8 - cache.KEEP + 1, 8)}  # the newest


EDIT_PROBE = """
import json
import numpy as np
import steprnn as sr
import steprnn.nn as nn
from steprnn.kernels.cpu import rnn as kernel
sr.manual_seed(0)
layer = nn.RNN(2, 5)
x = np.array([[[0.3, -0.7]]], dtype=np.float32)  # (T=1, N=1, I=2): h_1 = tanh(a), a from h_0 = 0
with sr.no_grad():
    out, _ = layer(x)
w = layer.state_dict()
a = w["weight_ih_l0"].astype(np.float64) @ x[0, 0] + w["bias_ih_l0"] + w["bias_hh_l0"]
stats = kernel.rnn_rows.stats  # the time loop a small forward runs (serial path of the backend)
print(json.dumps({"out": out.numpy()[0, 0].tolist(), "a": a.tolist(), "file": sr.__file__,
                  "hits": sum(stats.cache_hits.values()), "misses": sum(stats.cache_misses.values())}))
"""


def _probe(pkg: Path, env: dict) -> dict:
    result = run_python(EDIT_PROBE, cwd=pkg, env=env)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["file"].startswith(str(pkg)), report["file"]
    return report


@pytest.mark.slow
def test_an_edited_helper_reaches_the_cached_kernel(tmp_path):
    """Edit vexp.py (called by the RNN kernel in rnn.py): the next process computes with the edit."""
    import numpy as np

    pkg = copy_package(tmp_path / "pkg")
    env = clean_env(STEPRNN_CACHE_DIR=str(tmp_path / "cache"))
    first = _probe(pkg, env)
    a = np.array(first["a"])
    np.testing.assert_allclose(first["out"], np.tanh(a), atol=1e-5)
    again = _probe(pkg, env)
    assert again["hits"] >= 1 and again["misses"] == 0, "an unchanged kernel must load from the cache"
    assert again["out"] == first["out"]

    helper = pkg / "kernels" / "cpu" / "vexp.py"
    text = helper.read_text()
    assert text.count("x[i] = p * _as_float(") == 2  # the float64 and the float32 body
    helper.write_text(text.replace("x[i] = p * _as_float(", "x[i] = 3 * p * _as_float("))  # e^x → 3 e^x
    edited = _probe(pkg, env)
    assert edited["misses"] >= 1 and edited["hits"] == 0, "the edit must not load the old machine code"
    # tanh(a) = 2 / (1 + e^{-2a}) − 1 becomes 2 / (1 + 3 e^{-2a}) − 1
    np.testing.assert_allclose(edited["out"], 2 / (1 + 3 * np.exp(-2 * a)) - 1, atol=1e-5)
    assert not np.allclose(edited["out"], first["out"], atol=1e-3)
    assert len(_hash_dirs(tmp_path / "cache")) == 2
    assert not list(pkg.rglob("*.nbi")) and not list(pkg.rglob("*.nbc")), "nothing cached in the package"


def test_numba_version_is_part_of_the_hash(monkeypatch, tmp_path):
    root = _copy_kernels(tmp_path / "kernels")
    before = cache.source_hash(str(root))
    monkeypatch.setattr(numba, "__version__", numba.__version__ + ".post1")
    assert cache.source_hash(str(root)) != before


def test_cache_root_follows_the_user_settings(monkeypatch, tmp_path):
    """STEPRNN_CACHE_DIR first, then NUMBA_CACHE_DIR/steprnn, then the user's cache folder."""
    monkeypatch.setattr(numba.core.config, "CACHE_DIR", str(tmp_path / "numba-cache"))
    monkeypatch.delenv("STEPRNN_CACHE_DIR", raising=False)
    path, note = cache._choose_cache_dir("0" * 16)
    assert (path, note) == (str(tmp_path / "numba-cache" / "steprnn" / ("0" * 16)), None)
    monkeypatch.setenv("STEPRNN_CACHE_DIR", str(tmp_path / "ours"))
    path, note = cache._choose_cache_dir("0" * 16)
    assert (path, note) == (str(tmp_path / "ours" / ("0" * 16)), None)
    assert Path(path).is_dir()


def test_an_unwritable_setting_falls_back_to_a_private_temp_folder(monkeypatch, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("STEPRNN_CACHE_DIR", str(blocker / "cache"))  # under a file: never writable
    monkeypatch.setattr(cache.tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    path, note = cache._choose_cache_dir("1" * 16)
    assert Path(path).is_relative_to(tmp_path / "tmp") and Path(path).name == "1" * 16
    assert str(blocker / "cache") in note and "not writable" in note
    private = Path(path).parents[1]
    assert private.stat().st_mode & 0o077 == 0


def test_a_shared_temp_folder_someone_else_can_write_is_not_used(monkeypatch, tmp_path):
    monkeypatch.setattr(cache.tempfile, "tempdir", str(tmp_path))
    uid = os.getuid()
    (tmp_path / f"steprnn-{uid}").mkdir(mode=0o777)
    os.chmod(tmp_path / f"steprnn-{uid}", 0o777)
    assert cache._private_temp_root() is None
    os.chmod(tmp_path / f"steprnn-{uid}", 0o700)
    assert cache._private_temp_root() == str(tmp_path / f"steprnn-{uid}" / "numba")


def test_nothing_writable_disables_the_cache_with_one_message(monkeypatch, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("STEPRNN_CACHE_DIR", str(blocker / "cache"))
    monkeypatch.setattr(cache.tempfile, "tempdir", str(blocker / "tmp"))
    path, note = cache._choose_cache_dir("2" * 16)
    assert path is None
    assert "STEPRNN_CACHE_DIR" in note and "compiled again in every process" in note
