"""What the first call costs: a new process, an empty kernel cache, then a warm start.

    python benchmarks/cold_start.py [--kinds lstm,gru,rnn] [--cache-dir DIR]

Cold (a new process, ``STEPRNN_CACHE_DIR`` an empty folder): ``import steprnn``, the first LSTM
forward, then the first forward + backward of each kind in turn (the LSTM's includes its backward
only, its forward having compiled already). Warm (another new process, same folder): ``import
steprnn`` and the first LSTM forward. Seconds of wall-clock time, each step on its own.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

_CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
import numpy as np
import steprnn as sr
import steprnn.nn as nn
out = {"import": time.perf_counter() - t0}
kinds = sys.argv[1].split(",")
warm_only = sys.argv[2] == "warm"
x = np.random.default_rng(0).standard_normal((5, 2, 3)).astype(np.float32)
layer = nn.LSTM(3, 4)
t0 = time.perf_counter()
with sr.no_grad():
    layer(x)
out["first lstm forward"] = time.perf_counter() - t0
if not warm_only:
    for kind in kinds:
        layer = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[kind](3, 4)
        xs = sr.tensor(x, requires_grad=True)
        t0 = time.perf_counter()
        y, _ = layer(xs)
        y.sum().backward()
        out[f"first {kind} forward+backward"] = time.perf_counter() - t0
print(json.dumps(out))
"""


def run(kinds: str, cache_dir: str, mode: str) -> dict[str, float]:
    env = dict(os.environ, STEPRNN_CACHE_DIR=cache_dir)
    res = subprocess.run([sys.executable, "-c", _CHILD, kinds, mode], env=env, capture_output=True, text=True,
                         check=False)
    if res.returncode != 0:
        sys.exit(f"cold_start: the child process failed:\n{res.stderr}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kinds", default="lstm,gru,rnn")
    parser.add_argument("--cache-dir", default=None, help="an empty folder (default: a new temporary one)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cache = args.cache_dir or tmp
        cold = run(args.kinds, cache, "cold")
        warm = run(args.kinds, cache, "warm")
    total = sum(v for k, v in cold.items() if k != "import")
    print("cold (empty cache), seconds:")
    for k, v in cold.items():
        print(f"  {k:34s} {v:7.2f}")
    print(f"  {'all first calls together':34s} {total:7.2f}")
    print("warm (cache filled), seconds:")
    for k, v in warm.items():
        print(f"  {k:34s} {v:7.2f}")
    print(f"  {'import + first forward':34s} {warm['import'] + warm['first lstm forward']:7.2f}")


if __name__ == "__main__":
    main()
