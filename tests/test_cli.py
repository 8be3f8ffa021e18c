"""The ``steprnn`` command: the quick gallery end to end, ``trace``, ``demo``, and its usage errors
(one line on stderr, exit status 2, never a traceback)."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from steprnn import gallery
from steprnn.cli import main

ROOT = Path(__file__).resolve().parent.parent
PLOT_FUNCTIONS = ("gate_heatmap", "trace_figure", "state_lines", "saturation", "gradient_flow", "cell_diagram",
                  "shapes", "weights", "token_strip", "connectivity", "animate")


def run(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    """``python -m steprnn.cli ARGS`` from the repository root, as a user runs ``steprnn ARGS``."""
    return subprocess.run([sys.executable, "-m", "steprnn.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)


def not_blank(path: Path) -> np.ndarray:
    pixels = np.asarray(Image.open(path).convert("RGB"), dtype=np.int16)
    assert pixels.shape[0] > 200 and pixels.shape[1] > 600, f"{path.name}: {pixels.shape}"
    assert pixels.std() > 10, f"{path.name} is blank"
    return pixels


@pytest.mark.slow
def test_quick_gallery_end_to_end(tmp_path):
    """``steprnn figures --quick`` writes ≥ 12 non-blank PNGs, a GIF and a README that lists each
    with its code line; together they call every plotting function."""
    out = tmp_path / "gallery"
    done = run("figures", "--quick", "--out", str(out))
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    pngs = sorted(out.glob("*.png"))
    assert len(pngs) >= 12, [p.name for p in pngs]
    for png in pngs:
        not_blank(png)
    gif = Image.open(out / "anbn_lstm.gif")
    assert gif.n_frames == 10  # a⁵b⁵: one frame per step
    readme = (out / "README.md").read_text()
    expected = [f.file for f in gallery.FIGURES if f.quick]
    assert sorted(p.name for p in out.iterdir() if p.name != "README.md") == sorted(expected)
    for name in expected:
        assert f"## `{name}`" in readme and f"]({name})" in readme
    for fn in PLOT_FUNCTIONS:
        assert f"plot.{fn}(" in readme, f"no figure of the quick gallery uses plot.{fn}"


def test_committed_gallery_matches_the_figure_list():
    """``figures/`` holds what the full ``steprnn figures`` writes, and its README describes each file."""
    folder = ROOT / "figures"
    files = sorted(p.name for p in folder.iterdir() if p.name != "README.md")
    assert files == sorted(f.file for f in gallery.FIGURES)
    assert sum(name.endswith(".png") for name in files) >= 12
    readme = (folder / "README.md").read_text()
    assert readme == gallery.readme(gallery.FIGURES, quick=False)
    for fn in PLOT_FUNCTIONS:
        assert f"plot.{fn}(" in readme


def test_trace_untrained(tmp_path, capsys):
    out = tmp_path / "t.png"
    assert main(["trace", "--arch", "rnn", "--task", "copy", "--hidden", "5", "--layers", "2",
                 "--bidirectional", "--untrained", "--out", str(out)]) == 0
    assert "untrained" in capsys.readouterr().out
    not_blank(out)


@pytest.mark.slow
def test_trace_trained(tmp_path, capsys):
    out = tmp_path / "brackets.png"
    assert main(["trace", "--arch", "gru", "--task", "brackets", "--out", str(out), "--no-progress"]) == 0
    said = capsys.readouterr().out
    assert re.search(r"trained \d+ steps, per-character depth accuracy on held-out strings = (0\.9[89]|1\b)", said), said
    not_blank(out)


def test_demo(capsys):
    assert main(["demo"]) == 0
    assert "all shapes match PyTorch's" in capsys.readouterr().out


@pytest.mark.parametrize("argv", [["--help"], ["figures", "--help"], ["trace", "--help"], ["demo", "--help"]])
def test_help_everywhere(argv, capsys):
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 0
    assert "usage: steprnn" in capsys.readouterr().out


def usage_error(argv: list[str], capsys) -> str:
    """Run ``steprnn ARGV`` in-process; it must fail with status 2 and one line on stderr."""
    try:
        code = main(argv)
    except SystemExit as e:
        code = e.code
    err = capsys.readouterr().err
    assert code == 2, (argv, code, err)
    assert len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err and err.startswith("steprnn")
    return err


@pytest.mark.parametrize("argv,says", [
    ([], "required"),
    (["paint"], "invalid choice: 'paint'"),
    (["trace", "--task", "anbn"], "--arch"),
    (["trace", "--arch", "lstm"], "--task"),
    (["trace", "--arch", "lsm", "--task", "anbn"], "invalid choice: 'lsm'"),
    (["trace", "--arch", "lstm", "--task", "mnist"], "unknown task 'mnist': the tasks are anbn, brackets"),
    (["trace", "--arch", "lstm", "--task", "anbn", "--hidden", "0"], "--hidden: expected a positive whole number, got '0'"),
    (["trace", "--arch", "lstm", "--task", "anbn", "--hidden", "-3"], "--hidden: expected a positive whole number"),
    (["trace", "--arch", "lstm", "--task", "anbn", "--hidden", "eight"], "got 'eight'"),
    (["trace", "--arch", "lstm", "--task", "anbn", "--layers", "2.5"], "--layers: expected a positive whole number"),
    (["trace", "--arch", "lstm", "--task", "anbn", "--seed", "-1"], "--seed: expected a whole number ≥ 0"),
    (["trace", "--arch", "lstm", "--task", "anbn", "--out", "trace.txt"], "must name a .png, .svg, .pdf file"),
    (["figures", "--quick", "--frobnicate"], "unrecognized arguments: --frobnicate"),
    (["demo", "--seed", "x"], "--seed"),
])
def test_usage_errors(argv, says, capsys):
    assert says in usage_error(argv, capsys)


def test_unwritable_paths(tmp_path, capsys):
    a_file = tmp_path / "a_file.txt"
    a_file.write_text("not a folder")
    trace = ["trace", "--arch", "lstm", "--task", "anbn", "--untrained", "--out"]
    assert "does not exist" in usage_error(trace + [str(tmp_path / "missing" / "t.png")], capsys)
    assert "does not exist" in usage_error(trace + [str(a_file / "t.png")], capsys)
    folder = tmp_path / "folder.png"
    folder.mkdir()
    assert "is a folder" in usage_error(trace + [str(folder)], capsys)
    assert "is a file, not a folder" in usage_error(["figures", "--out", str(a_file)], capsys)
    assert "cannot create the folder" in usage_error(["figures", "--out", str(a_file / "sub")], capsys)


def test_errors_from_a_real_process():
    """The installed-style entry point: exit status 2 and one line, no traceback."""
    done = run("trace", "--arch", "lstm", "--task", "nope", timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "Traceback" not in done.stderr
    assert "unknown task 'nope'" in done.stderr
