"""Installs: a read-only install imports and runs (issue 15, item 7); a wheel, then an editable
install on top, work from the repository root and from any other folder and leave nothing behind
(issue 8, item 2). Each runs steprnn in other processes."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from isolation import (ROOT, SMALL_FORWARD, clean_env, copy_package, make_readonly, make_writable,
                       require_readonly_works, run_python)

WATCH_WARNINGS = """
import json, sys, warnings
caught = []
warnings.simplefilter("always")
warnings.showwarning = lambda message, category, *args, **kwargs: caught.append(f"{category.__name__}: {message}")
"""

REPORT = """
import steprnn
from steprnn.kernels import cache
print(json.dumps({"warnings": caught, "cache_dir": cache.CACHE_DIR, "file": steprnn.__file__}))
"""


@pytest.fixture
def readonly_install(tmp_path):
    """A copy of the package and a HOME, both read-only; yields (package folder, base env)."""
    pkg = copy_package(tmp_path / "site-packages")
    home = tmp_path / "home"
    home.mkdir()
    ro_tmp = tmp_path / "ro-tmp"
    ro_tmp.mkdir()
    for folder in (pkg, home, ro_tmp):
        make_readonly(folder)
    env = clean_env(HOME=str(home), MPLCONFIGDIR=None)
    require_readonly_works(home, env)
    yield pkg, env, ro_tmp
    for folder in (pkg, home, ro_tmp):
        make_writable(folder)


def _run_readonly(code: str, pkg: Path, env: dict) -> dict:
    result = run_python(WATCH_WARNINGS + code + SMALL_FORWARD + REPORT, cwd=pkg, env=env, readonly=True)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["file"].startswith(str(pkg)), report["file"]
    noise = [line for line in result.stderr.splitlines() if "arning" in line]
    assert not noise, f"warnings outside the warnings module: {noise}"
    assert not list(pkg.rglob("*.nbi")) and not list(pkg.rglob("*.nbc"))
    return report


@pytest.mark.slow
def test_readonly_install_caches_in_a_private_temp_folder(readonly_install, tmp_path):
    """site-packages and HOME read-only: the kernels are cached in <tmp>/steprnn-<uid>, silently."""
    pkg, env, _ = readonly_install
    writable_tmp = tmp_path / "tmp"
    writable_tmp.mkdir()
    report = _run_readonly("", pkg, {**env, "TMPDIR": str(writable_tmp)})
    assert report["warnings"] == []
    assert report["cache_dir"] and Path(report["cache_dir"]).is_relative_to(writable_tmp), report
    private = Path(report["cache_dir"]).parents[1]
    assert private.name.startswith("steprnn") and private.stat().st_mode & 0o077 == 0


@pytest.mark.slow
def test_nothing_writable_still_runs_with_one_warning(readonly_install):
    """HOME, site-packages and the temporary folder read-only: uncached kernels, one warning."""
    pkg, env, ro_tmp = readonly_install
    report = _run_readonly(f"import tempfile\ntempfile.tempdir = {str(ro_tmp)!r}\n", pkg, env)
    assert report["cache_dir"] is None
    assert len(report["warnings"]) == 1 and report["warnings"][0].startswith("KernelCacheWarning"), report
    assert "STEPRNN_CACHE_DIR" in report["warnings"][0]


USE = """
import json
import steprnn, steprnn.nn
""" + SMALL_FORWARD + """
print(json.dumps({"file": steprnn.__file__, "kernels": steprnn.kernels.__file__}))
"""


def _use(python: Path, cwd: Path, env: dict) -> dict:
    result = run_python(USE, cwd=cwd, env=env, python=str(python))
    assert result.returncode == 0, f"from {cwd}:\n{result.stderr[-3000:]}"
    return json.loads(result.stdout.strip().splitlines()[-1])


def _pip(python: Path, *args: str, cwd: Path, env: dict) -> None:
    result = subprocess.run([str(python), "-m", "pip", *args], cwd=cwd, env=env, capture_output=True,
                            text=True, timeout=900)
    assert result.returncode == 0, f"pip {' '.join(args)}:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"


@pytest.mark.slow
def test_wheel_then_editable_install_work_from_any_folder(tmp_path):
    """README's commands in a fresh venv: ``pip install .`` (as a wheel), then ``pip install -e .``."""
    src = tmp_path / "repo"
    src.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(ROOT / name, src / name)
    copy_package(src)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = clean_env(keep_cache=True, PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INDEX="1",
                    PIP_NO_INPUT="1", PYTHONDONTWRITEBYTECODE=None)

    wheelhouse = tmp_path / "wheelhouse"
    _pip(Path(sys.executable), "wheel", "--no-deps", "--no-build-isolation", "-w", str(wheelhouse), str(src),
         cwd=tmp_path, env=env)
    (wheel,) = wheelhouse.glob("steprnn-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "steprnn/kernels/cpu/lstm.py" in names and "steprnn/kernels/cache.py" in names
    assert not [n for n in names if n.startswith("kernels/") or n.endswith((".nbi", ".nbc"))], names

    # a fresh venv; its dependencies come from this environment's site-packages through a plain
    # path line (no .pth in there is processed, so this environment's editable steprnn stays out)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=300)
    python = venv / "bin" / "python"
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    (site / "outer-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    probe = run_python("import numba, scipy; import steprnn", cwd=elsewhere, env=env, python=str(python))
    assert "No module named 'steprnn'" in probe.stderr, "the venv must not see another steprnn"

    _pip(python, "install", "--no-deps", "--ignore-installed", str(wheel), cwd=elsewhere, env=env)
    for cwd, expected in ((src, src / "steprnn"), (elsewhere, site / "steprnn")):
        used = _use(python, cwd, env)
        assert Path(used["file"]).parent == expected, (cwd, used)
    assert not list((site / "steprnn").rglob("*.nbi")), "compiled kernels must not go into site-packages"

    _pip(python, "install", "--no-deps", "--no-build-isolation", "-e", str(src), cwd=elsewhere, env=env)
    assert not (site / "steprnn").exists(), sorted(p.name for p in (site / "steprnn").rglob("*"))
    assert len(list(site.glob("steprnn-*.dist-info"))) == 1
    for cwd in (src, elsewhere):
        used = _use(python, cwd, env)
        assert Path(used["file"]).parent == src / "steprnn", (cwd, used)
        assert Path(used["kernels"]).resolve().parent == (src / "kernels").resolve()
    leftovers = [p for p in site.rglob("*") if "steprnn" in p.name and "dist-info" not in str(p)
                 and not p.name.startswith("__editable__")]
    assert not leftovers, f"left behind by the wheel: {leftovers}"
