"""The register tiles compiled for another CPU than this one: each vector width the kernels
choose (``simd.vector_bytes``: 64 bytes and eight-row tiles with AVX-512, 32 with AVX2, 16 with
SSE) is tested whatever CPU runs the suite, in a child process whose ``NUMBA_CPU_FEATURES`` are
this CPU's with the wider extensions turned off (a narrower target runs here; a wider one cannot:
an AVX2 machine cannot test the AVX-512 code, and skips it)."""
from __future__ import annotations

import json

import pytest
from llvmlite import binding

from isolation import ROOT, clean_env, run_python

CHILD = """
import json
import numpy as np, torch
import steprnn as sr
import steprnn.nn as nn
from steprnn.kernels.cpu import backend, simd, tiles

report = {"vec_bytes": simd.VEC_BYTES, "eight_rows": bool(tiles.EIGHT_ROWS), "errors": []}
rng = np.random.default_rng(0)
for dtype in (np.float32, np.float64):
    for n in range(1, 20):  # eight-row tiles, four-row tiles, single rows
        K, G = int(rng.integers(1, 40)), int(rng.integers(1, 100))
        w = rng.standard_normal((K, G)).astype(dtype)
        v = rng.standard_normal((n, K)).astype(dtype)
        out = rng.standard_normal((n, G)).astype(dtype)
        expected = out.astype(np.float64) + v.astype(np.float64) @ w.astype(np.float64)
        tiles.panel_product(out, v, tiles.pack_panels(w), np.empty((tiles.TILE_ROWS, tiles.panel_width(w)), dtype))
        err = float(np.abs(out - expected).max() / (np.abs(expected).max() + 1))
        if err > (1e-5 if dtype == np.float32 else 1e-13):
            report["errors"].append(["panel_product", n, K, G, str(dtype), err])
backend.PARALLEL_FROM = 0  # split over threads too
for kind in ("LSTM", "GRU", "RNN"):
    torch.manual_seed(1)
    theirs = getattr(torch.nn, kind)(5, 20, num_layers=2).double()
    ours = getattr(nn, kind)(5, 20, num_layers=2, dtype=np.float64)
    ours.load_state_dict(theirs.state_dict())
    x = rng.standard_normal((9, 19, 5))
    xt = torch.from_numpy(x.copy()).requires_grad_()
    xs = sr.tensor(x, requires_grad=True)
    (theirs(xt)[0] ** 2).sum().backward()
    out = ours(xs)[0]
    (out ** 2).sum().backward()
    err = max(float(np.abs(out.detach().numpy() - theirs(xt)[0].detach().numpy()).max()),
              float(np.abs(xs.grad.numpy() - xt.grad.numpy()).max()),
              max(float(np.abs(p.grad.numpy() - q.grad.numpy()).max())
                  for p, q in zip(ours.parameters(), theirs.parameters())))
    if err > 1e-9:
        report["errors"].append([kind, err])
print(json.dumps(report))
"""

#: (NUMBA_CPU_NAME, the feature the host needs to run it, expected vector bytes, eight-row tiles)
TARGETS = [("skylake-avx512", "avx512f", 64, True), ("haswell", "avx2", 32, False), ("nehalem", "sse4.2", 16, False)]
#: what each narrower target turns off of the host's features
_OFF = {"avx512": ("avx512", "avx10", "amx"), "avx2": ("avx512", "avx", "fma", "f16c", "vaes", "vpclmulqdq", "amx", "xop", "fma4")}


def _features(feature: str) -> str:
    """The host's feature list (LLVM's +name,-name) with everything wider than ``feature`` off."""
    features = binding.get_host_cpu_features()
    prefixes = _OFF.get("avx2" if feature.startswith("sse") else "avx512" if feature == "avx2" else "", ())
    return ",".join(("-" if any(name.startswith(p) for p in prefixes) else ("+" if on else "-")) + name
                    for name, on in features.items())


@pytest.mark.slow
@pytest.mark.parametrize("cpu, feature, vec_bytes, eight_rows", TARGETS, ids=[t[0] for t in TARGETS])
def test_tiles_and_layers_compiled_for_each_vector_width(cpu, feature, vec_bytes, eight_rows):
    if not binding.get_host_cpu_features().get(feature):
        pytest.skip(f"this CPU cannot run code compiled for {cpu} (no {feature})")
    env = clean_env(keep_cache=True, NUMBA_CPU_NAME=cpu, NUMBA_CPU_FEATURES=_features(feature))
    done = run_python(CHILD, cwd=ROOT, env=env, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["vec_bytes"] == vec_bytes and report["eight_rows"] is eight_rows, report
    assert report["errors"] == [], report["errors"]
