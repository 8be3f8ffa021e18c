"""Helpers for tests that run steprnn in a separate Python process: copies of the package,
environments without the caller's cache settings, and read-only folders that hold for root too."""
from __future__ import annotations

import ctypes
import os
import shutil
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: variables that would point a child at the caller's cache or threading choices, or another steprnn
CACHE_VARS = ("STEPRNN_CACHE_DIR", "NUMBA_CACHE_DIR", "XDG_CACHE_HOME", "NUMBA_CACHE_LOCATOR_CLASSES")
THREAD_VARS = ("NUMBA_THREADING_LAYER", "NUMBA_THREADING_LAYER_PRIORITY", "NUMBA_DISABLE_JIT", "PYTHONPATH")

#: a small forward through steprnn, printing the output's sum (runs in the child)
SMALL_FORWARD = textwrap.dedent("""
    import numpy as np
    import steprnn as sr
    import steprnn.nn as nn
    sr.manual_seed(0)
    rnn = nn.RNN(3, 4)
    x = np.linspace(-1, 1, 2 * 2 * 3, dtype=np.float32).reshape(2, 2, 3)
    with sr.no_grad():
        out, h_n = rnn(x)
    w = rnn.state_dict()
    h = np.zeros(4)
    for t in range(2):  # the reference: h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh), row 0
        h = np.tanh(w["weight_ih_l0"] @ x[t, 0] + w["bias_ih_l0"] + w["weight_hh_l0"] @ h + w["bias_hh_l0"])
    assert np.allclose(out.numpy()[-1, 0], h, atol=1e-5), (out.numpy()[-1, 0], h)
""")


def copy_package(dest: Path) -> Path:
    """Copy ``steprnn/`` (with its ``kernels`` link) and ``kernels/`` into ``dest``; returns ``dest``."""
    ignore = shutil.ignore_patterns("__pycache__", "*.nbi", "*.nbc", "*.pyc")
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copytree(ROOT / "steprnn", dest / "steprnn", symlinks=True, ignore=ignore)
    shutil.copytree(ROOT / "kernels", dest / "kernels", symlinks=True, ignore=ignore)
    return dest


def clean_env(keep_cache: bool = False, **extra: str | None) -> dict:
    """os.environ without the cache/threading variables (``keep_cache``: only without the
    threading ones, so the child shares this process's kernel cache), then ``extra`` (None removes
    a name)."""
    drop = THREAD_VARS if keep_cache else CACHE_VARS + THREAD_VARS
    env = {k: v for k, v in os.environ.items() if k not in drop}
    for key, value in extra.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def run_python(code: str, cwd: Path, env: dict, timeout: float = 900, readonly: bool = False,
               python: str = sys.executable) -> subprocess.CompletedProcess:
    """Run ``python -c code`` in ``cwd`` (first on sys.path); ``readonly``: as root, without the
    capabilities that let root write into read-only folders."""
    preexec = _drop_root_write_override if readonly and os.geteuid() == 0 else None
    return subprocess.run([python, "-c", code], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout, preexec_fn=preexec)


def make_readonly(path: Path) -> None:
    """chmod a-w on ``path`` and everything under it (links are left alone)."""
    for folder, dirs, files in os.walk(path):
        for name in files:
            p = os.path.join(folder, name)
            if not os.path.islink(p):
                os.chmod(p, stat.S_IMODE(os.lstat(p).st_mode) & ~0o222)
        os.chmod(folder, stat.S_IMODE(os.stat(folder).st_mode) & ~0o222)


def make_writable(path: Path) -> None:
    """Undo ``make_readonly`` (so that pytest can remove the folder)."""
    for folder, dirs, files in os.walk(path):
        os.chmod(folder, stat.S_IMODE(os.stat(folder).st_mode) | 0o200)
        for name in files:
            p = os.path.join(folder, name)
            if not os.path.islink(p):
                os.chmod(p, stat.S_IMODE(os.lstat(p).st_mode) | 0o200)


_PR_CAPBSET_DROP = 24
_CAP_DAC_OVERRIDE, _CAP_DAC_READ_SEARCH, _CAP_FOWNER = 1, 2, 3


def _drop_root_write_override() -> None:  # pragma: no cover - runs in the child before exec
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (_CAP_DAC_OVERRIDE, _CAP_DAC_READ_SEARCH, _CAP_FOWNER):
        if libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) failed")


def require_readonly_works(folder: Path, env: dict) -> None:
    """Skip unless a child process really cannot write into the read-only ``folder``."""
    probe = f"open({str(folder / 'probe')!r}, 'w')"
    try:
        result = run_python(probe, cwd=folder, env=env, timeout=60, readonly=True)
    except (OSError, subprocess.SubprocessError) as exc:
        pytest.skip(f"cannot run a child without write permission here: {exc}")
    if result.returncode == 0:
        pytest.skip("a child process can still write into read-only folders here")
