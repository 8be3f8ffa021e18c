"""What the first call costs: a new process, an empty kernel cache, then a warm start.

    python benchmarks/cold_start.py [--kinds lstm,gru,rnn] [--cache-dir DIR]

The child imports the steprnn of this checkout. Cold (a new process, ``STEPRNN_CACHE_DIR`` an
empty folder): ``import steprnn``, the first LSTM forward, then the first forward + backward of
each kind in turn (the LSTM's compiles only its backward, its forward having compiled already).
Warm (another new process, same folder): ``import steprnn`` and the first LSTM forward. Seconds,
each step on its own: wall-clock time and the process's CPU time (a busy machine inflates only
the first).
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
t0, c0 = time.perf_counter(), time.process_time()
import numpy as np
import steprnn as sr
import steprnn.nn as nn
out = {"import": (time.perf_counter() - t0, time.process_time() - c0)}
kinds = sys.argv[1].split(",")
warm_only = sys.argv[2] == "warm"
x = np.random.default_rng(0).standard_normal((5, 2, 3)).astype(np.float32)
layer = nn.LSTM(3, 4)
t0, c0 = time.perf_counter(), time.process_time()
with sr.no_grad():
    layer(x)
out["first lstm forward"] = (time.perf_counter() - t0, time.process_time() - c0)
if not warm_only:
    for kind in kinds:
        layer = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[kind](3, 4)
        xs = sr.tensor(x, requires_grad=True)
        t0, c0 = time.perf_counter(), time.process_time()
        y, _ = layer(xs)
        y.sum().backward()
        out[f"first {kind} forward+backward"] = (time.perf_counter() - t0, time.process_time() - c0)
print(json.dumps(out))
"""


def run(kinds: str, cache_dir: str, mode: str) -> dict[str, float]:
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, STEPRNN_CACHE_DIR=cache_dir,
               PYTHONPATH=os.pathsep.join([root, os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep))
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
    total = [sum(v[i] for k, v in cold.items() if k != "import") for i in (0, 1)]
    print(f"cold (empty cache), seconds: {'wall':>7s} {'cpu':>7s}")
    for k, v in cold.items():
        print(f"  {k:34s} {v[0]:7.2f} {v[1]:7.2f}")
    print(f"  {'all first calls together':34s} {total[0]:7.2f} {total[1]:7.2f}")
    print("warm (cache filled), seconds:")
    for k, v in warm.items():
        print(f"  {k:34s} {v[0]:7.2f} {v[1]:7.2f}")
    both = [warm["import"][i] + warm["first lstm forward"][i] for i in (0, 1)]
    print(f"  {'import + first forward':34s} {both[0]:7.2f} {both[1]:7.2f}")
    print("(wall: elapsed; cpu: this process's CPU time, which a busy machine does not inflate)")


if __name__ == "__main__":
    main()
