"""Packaging: the kernels are installed as steprnn.kernels, never as a top-level ``kernels``."""
import tomllib
from pathlib import Path

import steprnn.kernels

ROOT = Path(__file__).resolve().parent.parent


def test_kernels_are_a_subpackage():
    """`steprnn/kernels` links to the top-level `kernels/`; discovery installs only `steprnn.*`."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    find = config["tool"]["setuptools"]["packages"]["find"]
    assert find["include"] == ["steprnn", "steprnn.*"]
    link = ROOT / "steprnn" / "kernels"
    assert link.is_symlink() and link.resolve() == (ROOT / "kernels").resolve()
    assert steprnn.kernels.__name__ == "steprnn.kernels"
    assert Path(steprnn.kernels.__file__).parent.name == "kernels"


def test_test_extra_pins_the_torch_wheel():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "torch==2.13.0" in config["project"]["optional-dependencies"]["test"]
    assert not any("torch" in d for d in config["project"]["dependencies"])


def test_ci_runs_the_readme_test_line():
    readme = (ROOT / "README.md").read_text().splitlines()
    line = next(s.strip() for s in readme if "pytest" in s and s.strip().startswith("pip install"))
    assert line in (ROOT / ".ci" / "run").read_text()


def test_every_package_is_installed():
    """Package discovery (through the kernels link) finds every folder that has an __init__.py."""
    from setuptools import find_packages

    found = set(find_packages(str(ROOT), include=["steprnn", "steprnn.*"]))
    folders = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "steprnn").rglob("__init__.py")}
    folders |= {"steprnn." + ".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "kernels").rglob("__init__.py")}
    assert {"steprnn.kernels", "steprnn.kernels.cpu", "steprnn.kernels.cuda"} <= found
    assert folders <= found, f"not installed: {sorted(folders - found)}"
    assert not any(p == "kernels" or p.startswith("kernels.") for p in found)
