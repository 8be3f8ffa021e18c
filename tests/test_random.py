"""Same seed, same numbers: steprnn's generator against torch 2.13's CPU generator, bit for bit.

Every comparison is exact (``np.array_equal``) unless a test says otherwise. The float32 normal
stream (16 values or more) depends on the ATen build torch picks on this CPU; the tests that draw it
are skipped where steprnn's choice of kernel differs from torch's.
"""
from __future__ import annotations

import math
import platform

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import steprnn as sr
import steprnn.nn as nn
import steprnn.nn.functional as F
from steprnn.random import Generator

from steprnn.random import _normal_kernel  # noqa: E402

_TORCH_KERNEL = "avx2" if torch.backends.cpu.get_cpu_capability() in ("AVX2", "AVX512") else "scalar"
needs_avx2_normal = pytest.mark.skipif(
    _normal_kernel() != _TORCH_KERNEL,
    reason=f"torch runs its {_TORCH_KERNEL} float32 normal kernel here, steprnn chose {_normal_kernel()}")

seeds = st.one_of(st.integers(0, 2**32 - 1), st.integers(-(2**63), 2**64 - 1))
shapes = st.lists(st.integers(0, 7), min_size=0, max_size=3).map(tuple)
float_dtypes = st.sampled_from([(np.float32, torch.float32), (np.float64, torch.float64)])


def torch_gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def assert_same(ours, theirs, what=""):
    a = np.asarray(ours.detach().numpy() if hasattr(ours, "detach") else ours)
    b = theirs.detach().numpy() if hasattr(theirs, "detach") else np.asarray(theirs)
    assert a.dtype == b.dtype, f"{what}: dtype {a.dtype} vs torch's {b.dtype}"
    assert a.shape == b.shape, f"{what}: shape {a.shape} vs torch's {b.shape}"
    assert np.array_equal(a, b, equal_nan=True), f"{what}: max difference {np.abs(a - b).max()}"


# --- the raw stream and seeding ---------------------------------------------------------------------

@given(seed=seeds)
def test_raw_draws_and_int64_random_match(seed):
    g = Generator().manual_seed(seed)
    t = torch_gen(seed)
    assert_same(g.random_int64(9), torch.empty(9, dtype=torch.int64).random_(generator=t), "random_()")


def test_default_seed_and_initial_seed_are_torchs():
    assert Generator().initial_seed() == torch.Generator().initial_seed()
    assert_same(Generator().uniform_array(5), torch.rand(5, generator=torch.Generator()), "fresh generator")
    sr.manual_seed(-5)
    torch.manual_seed(-5)
    assert sr.initial_seed() == torch.initial_seed()


def test_manual_seed_returns_the_generator_and_refuses_bad_seeds():
    g = Generator()
    assert g.manual_seed(3) is g
    assert isinstance(sr.manual_seed(3), Generator)
    with pytest.raises(TypeError, match="manual_seed expected an int, got str"):
        sr.manual_seed("three")
    with pytest.raises(RuntimeError, match="Overflow"):
        sr.manual_seed(2**64)
    with pytest.raises(TypeError, match="generator must be a steprnn.Generator"):
        sr.rand(3, generator=object())


@given(seed=seeds, draws=st.sampled_from([0, 1, 5, 623, 624, 625, 1500]), cached=st.booleans())
def test_rng_state_is_torchs_byte_for_byte_and_interchangeable(seed, draws, cached):
    sr.manual_seed(seed)
    torch.manual_seed(seed)
    sr.rand(draws)
    torch.rand(draws)
    if cached:  # leaves the second Box-Muller value cached in the generator
        sr.randn(1)
        torch.randn(1)
    assert_same(sr.get_rng_state(), torch.get_rng_state(), "get_rng_state")
    state = sr.get_rng_state()
    a = sr.randn(3).numpy().copy()
    sr.set_rng_state(state)
    assert np.array_equal(sr.randn(3).numpy(), a)
    sr.set_rng_state(torch.get_rng_state())  # torch's state drives steprnn's generator
    assert_same(sr.randn(5), torch.randn(5), "after set_rng_state(torch state)")
    torch.set_rng_state(torch.from_numpy(sr.get_rng_state().numpy()))
    assert_same(sr.rand(7), torch.rand(7), "after torch.set_rng_state(steprnn state)")


def test_set_rng_state_refuses_foreign_states():
    with pytest.raises(RuntimeError, match="RNG state size to be 7"):
        sr.set_rng_state(sr.tensor(np.zeros(7, dtype=np.uint8)))
    with pytest.raises(TypeError, match="uint8"):
        sr.set_rng_state(sr.tensor([1.0, 2.0]))
    with pytest.raises(RuntimeError, match="not a Mersenne Twister state"):
        sr.set_rng_state(sr.tensor(np.zeros(5056, dtype=np.uint8)))


def test_seed_reseeds_nondeterministically():
    s = sr.seed()
    assert sr.initial_seed() == s
    assert 0 <= s < 2**63


# --- distributions ------------------------------------------------------------------------------------

# Ranges, means and deviations below float32's smallest normal number are left out: there torch's
# float32 kernels flush results to zero that a correctly rounded computation keeps (README: "Not exact").
_TINY32 = float(np.finfo(np.float32).tiny)


@given(seed=seeds, shape=shapes, dts=float_dtypes,
       low=st.one_of(st.just(0.0), st.floats(-10, -_TINY32), st.floats(_TINY32, 10)),
       width=st.one_of(st.just(0.0), st.floats(_TINY32, 20)))
def test_uniform_matches(seed, shape, dts, low, width):
    npdt, tdt = dts
    g = Generator().manual_seed(seed)
    t = torch_gen(seed)
    high = low + width
    ours = g.uniform_array(shape, low, high, npdt)
    theirs = torch.empty(shape, dtype=tdt).uniform_(low, high, generator=t)
    assert_same(ours, theirs, f"uniform_({low}, {high})")


@needs_avx2_normal
@given(seed=seeds, n=st.one_of(st.integers(0, 40), st.integers(41, 3000)), dts=float_dtypes,
       mean=st.one_of(st.just(0.0), st.floats(-3, -_TINY32), st.floats(_TINY32, 3)),
       std=st.one_of(st.just(0.0), st.floats(_TINY32, 4)))
def test_normal_matches_both_paths(seed, n, dts, mean, std):
    npdt, tdt = dts
    g = Generator().manual_seed(seed)
    t = torch_gen(seed)
    ours = g.normal_array((n,), mean, std, npdt)
    theirs = torch.empty(n, dtype=tdt).normal_(mean, std, generator=t)
    assert_same(ours, theirs, f"normal_({mean}, {std}) of {n}")
    # the stream continues identically (the cached Box-Muller value included)
    assert_same(g.normal_array((3,), 0.0, 1.0, npdt), torch.randn(3, dtype=tdt, generator=t), "after")


@needs_avx2_normal
@given(seed=seeds, shape=shapes)
def test_global_rand_randn_randint_follow_manual_seed(seed, shape):
    sr.manual_seed(seed)
    torch.manual_seed(seed)
    assert_same(sr.rand(shape), torch.rand(shape), "rand")
    assert_same(sr.randn(shape), torch.randn(shape), "randn")
    if shape:
        assert_same(sr.randn(*shape), torch.randn(*shape), "randn(*size)")
    assert_same(sr.randn(shape, dtype=sr.float64), torch.randn(shape, dtype=torch.float64), "randn float64")
    assert_same(sr.randint(-4, 9, shape), torch.randint(-4, 9, shape), "randint")
    assert_same(sr.randint(2**40, shape), torch.randint(2**40, shape), "randint 64-bit range")
    assert_same(sr.rand(shape, dtype=sr.float64), torch.rand(shape, dtype=torch.float64), "rand float64")


@given(seed=seeds, n=st.one_of(st.integers(0, 60), st.integers(61, 20000)))
def test_randperm_matches(seed, n):
    assert_same(sr.randperm(n, generator=Generator().manual_seed(seed)), torch.randperm(n, generator=torch_gen(seed)),
                f"randperm({n})")


@given(seed=seeds, rows=st.integers(1, 4), cats=st.integers(1, 9), data=st.data())
def test_multinomial_matches(seed, rows, cats, data):
    rng = np.random.default_rng(abs(seed) % 2**32)
    p = rng.random((rows, cats)).astype(data.draw(st.sampled_from([np.float32, np.float64])))
    replacement = data.draw(st.booleans())
    if replacement:  # without replacement, PyTorch's topk orders ties among zero weights its own way
        p[rng.random(p.shape) < 0.2] = 0
    p[:, 0] += 0.1
    k = data.draw(st.integers(1, cats if not replacement else 12))
    ours = sr.multinomial(p, k, replacement, generator=Generator().manual_seed(seed))
    theirs = torch.multinomial(torch.from_numpy(p), k, replacement, generator=torch_gen(seed))
    assert_same(ours, theirs, f"multinomial(k={k}, replacement={replacement})")
    assert_same(sr.multinomial(p[0], 1, generator=Generator().manual_seed(seed)),
                torch.multinomial(torch.from_numpy(p[0]), 1, generator=torch_gen(seed)), "1-D")


def test_multinomial_refuses_bad_input():
    with pytest.raises(RuntimeError, match="without replacement"):
        sr.multinomial([0.5, 0.5], 3)
    with pytest.raises(RuntimeError, match="element < 0"):
        sr.multinomial(np.array([0.5, -0.1]), 1)
    with pytest.raises(RuntimeError, match="sum of probabilities <= 0"):
        sr.multinomial(np.zeros(3), 1)
    with pytest.raises(RuntimeError, match="1 or 2 dim"):
        sr.multinomial(np.ones((2, 2, 2)), 1)


@given(seed=seeds, shape=shapes, dts=float_dtypes)
def test_bernoulli_matches(seed, shape, dts):
    npdt, tdt = dts
    p = np.random.default_rng(abs(seed) % 2**32).random(shape).astype(npdt)
    assert_same(sr.bernoulli(p, generator=Generator().manual_seed(seed)),
                torch.bernoulli(torch.from_numpy(p), generator=torch_gen(seed)), "bernoulli(p)")
    assert_same(sr.bernoulli(p, 0.3, generator=Generator().manual_seed(seed)),
                torch.bernoulli(torch.from_numpy(p), 0.3, generator=torch_gen(seed)), "bernoulli(x, 0.3)")


@needs_avx2_normal
@given(seed=seeds)
def test_normal_function_forms(seed):
    m = np.linspace(-1, 1, 20, dtype=np.float32).reshape(4, 5)
    s = np.linspace(0.1, 2, 20, dtype=np.float32).reshape(4, 5)
    assert_same(sr.normal(m, s, generator=Generator().manual_seed(seed)),
                torch.normal(torch.from_numpy(m), torch.from_numpy(s), generator=torch_gen(seed)), "tensors")
    assert_same(sr.normal(0.5, 2.0, (3, 7), generator=Generator().manual_seed(seed)),
                torch.normal(0.5, 2.0, (3, 7), generator=torch_gen(seed)), "floats")


# --- dropout -----------------------------------------------------------------------------------------

@given(seed=seeds, shape=shapes.filter(lambda s: 0 not in s), p=st.floats(0.05, 0.95), dts=float_dtypes)
def test_dropout_masks_match(seed, shape, p, dts):
    npdt, tdt = dts
    x = np.random.default_rng(0).standard_normal(shape).astype(npdt)
    sr.manual_seed(seed)
    torch.manual_seed(seed)
    assert_same(F.dropout(sr.tensor(x), p), torch.nn.functional.dropout(torch.from_numpy(x), p), "F.dropout")
    assert_same(nn.Dropout(p)(sr.tensor(x)), torch.nn.Dropout(p)(torch.from_numpy(x)), "nn.Dropout")


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_recurrent_dropout_between_layers_follows_torch(kind):
    x = np.random.default_rng(1).standard_normal((6, 3, 4))
    sr.manual_seed(2)
    ours = getattr(nn, kind)(4, 5, num_layers=3, dropout=0.4, dtype=sr.float64)
    torch.manual_seed(2)
    theirs = getattr(torch.nn, kind)(4, 5, num_layers=3, dropout=0.4, dtype=torch.float64)
    sr.manual_seed(9)
    torch.manual_seed(9)
    for _ in range(2):  # two forwards: the masks of the second come from the advanced stream
        a = ours(x)[0].detach().numpy()
        b = theirs(torch.from_numpy(x))[0].detach().numpy()
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_recurrent_dropout_on_packed_input_follows_torch(kind):
    from torch.nn.utils.rnn import pack_padded_sequence as torch_pack

    from steprnn.nn.utils.rnn import pack_padded_sequence

    x = np.random.default_rng(1).standard_normal((6, 3, 4))
    lengths = [6, 4, 2]
    sr.manual_seed(2)
    ours = getattr(nn, kind)(4, 5, num_layers=3, dropout=0.4, bidirectional=True, dtype=sr.float64)
    torch.manual_seed(2)
    theirs = getattr(torch.nn, kind)(4, 5, num_layers=3, dropout=0.4, bidirectional=True, dtype=torch.float64)
    sr.manual_seed(9)
    torch.manual_seed(9)
    for _ in range(2):
        a = ours(pack_padded_sequence(sr.tensor(x), lengths))[0].data
        b = theirs(torch_pack(torch.from_numpy(x), lengths))[0].data
        a = a.detach().numpy() if hasattr(a, "detach") else np.asarray(a)
        np.testing.assert_allclose(a, b.detach().numpy(), rtol=0, atol=1e-12)


# --- initial weights ---------------------------------------------------------------------------------

def assert_same_state(ours, theirs, what):
    sa, sb = ours.state_dict(), theirs.state_dict()
    assert list(sa) == list(sb), what
    for k in sb:
        assert_same(np.asarray(sa[k]), sb[k], f"{what} {k}")


@given(seed=seeds, kind=st.sampled_from(["RNN", "LSTM", "GRU"]), input_size=st.integers(1, 6),
       hidden=st.integers(1, 7), layers=st.integers(1, 3), bidirectional=st.booleans(), bias=st.booleans(),
       proj=st.integers(0, 3), dts=float_dtypes)
def test_recurrent_layers_initialise_as_torch(seed, kind, input_size, hidden, layers, bidirectional, bias, proj, dts):
    npdt, tdt = dts
    kw = dict(num_layers=layers, bidirectional=bidirectional, bias=bias)
    if kind == "LSTM" and proj < hidden:
        kw["proj_size"] = proj
    sr.manual_seed(seed)
    ours = getattr(nn, kind)(input_size, hidden, dtype=npdt, **kw)
    torch.manual_seed(seed)
    theirs = getattr(torch.nn, kind)(input_size, hidden, dtype=tdt, **kw)
    assert_same_state(ours, theirs, f"{kind}{kw}")


@given(seed=seeds, kind=st.sampled_from(["RNNCell", "LSTMCell", "GRUCell"]), input_size=st.integers(1, 6),
       hidden=st.integers(1, 7), bias=st.booleans(), dts=float_dtypes)
def test_cells_initialise_as_torch(seed, kind, input_size, hidden, bias, dts):
    npdt, tdt = dts
    sr.manual_seed(seed)
    ours = getattr(nn, kind)(input_size, hidden, bias=bias, dtype=npdt)
    torch.manual_seed(seed)
    theirs = getattr(torch.nn, kind)(input_size, hidden, bias=bias, dtype=tdt)
    assert_same_state(ours, theirs, kind)


@given(seed=seeds, fan_in=st.integers(1, 40), fan_out=st.integers(1, 40), bias=st.booleans(), dts=float_dtypes)
def test_linear_initialises_as_torch(seed, fan_in, fan_out, bias, dts):
    npdt, tdt = dts
    sr.manual_seed(seed)
    ours = nn.Linear(fan_in, fan_out, bias=bias, dtype=npdt)
    torch.manual_seed(seed)
    theirs = torch.nn.Linear(fan_in, fan_out, bias=bias, dtype=tdt)
    assert_same_state(ours, theirs, "Linear")


def test_a_model_built_after_one_seed_matches_torch_layer_after_layer():
    sr.manual_seed(0)
    ours = [nn.LSTM(3, 4), nn.Linear(4, 2), nn.GRUCell(2, 3)]
    torch.manual_seed(0)
    theirs = [torch.nn.LSTM(3, 4), torch.nn.Linear(4, 2), torch.nn.GRUCell(2, 3)]
    for a, b in zip(ours, theirs):
        assert_same_state(a, b, type(b).__name__)


# --- nn.init -----------------------------------------------------------------------------------------

INIT_CALLS = [
    ("uniform_", dict(a=-0.3, b=0.7)),
    ("normal_", dict(mean=0.2, std=0.5)),
    ("xavier_uniform_", dict()),
    ("xavier_uniform_", dict(gain=5 / 3)),
    ("xavier_normal_", dict(gain=2.0)),
    ("kaiming_uniform_", dict()),
    ("kaiming_uniform_", dict(a=math.sqrt(5))),
    ("kaiming_uniform_", dict(mode="fan_out", nonlinearity="relu")),
    ("kaiming_normal_", dict()),
    ("kaiming_normal_", dict(mode="fan_out", nonlinearity="tanh")),
    ("trunc_normal_", dict(std=0.8)),
    ("trunc_normal_", dict(mean=0.0, std=1.0, a=2.0, b=4.0)),
]


@needs_avx2_normal
@pytest.mark.parametrize("name,kwargs", INIT_CALLS, ids=str)
@given(seed=seeds, rows=st.integers(1, 30), cols=st.integers(1, 30), dts=float_dtypes)
def test_init_functions_draw_torchs_numbers(name, kwargs, seed, rows, cols, dts):
    npdt, tdt = dts
    ours = sr.tensor(np.zeros((rows, cols), dtype=npdt))
    theirs = torch.zeros(rows, cols, dtype=tdt)
    sr.manual_seed(seed)
    torch.manual_seed(seed)
    out = getattr(nn.init, name)(ours, **kwargs)
    getattr(torch.nn.init, name)(theirs, **kwargs)
    assert out is ours
    if name == "trunc_normal_" and kwargs.get("a") == 2.0:
        # the rejection path's log and comparisons run in NumPy: same stream, same acceptance here
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-6, atol=1e-6)
        return
    assert_same(ours, theirs, f"{name}{kwargs}")


@needs_avx2_normal
@given(seed=seeds, rows=st.integers(1, 12), cols=st.integers(1, 12))
def test_orthogonal_draws_the_same_matrix(seed, rows, cols):
    ours = sr.tensor(np.zeros((rows, cols), dtype=np.float64))
    theirs = torch.zeros(rows, cols, dtype=torch.float64)
    sr.manual_seed(seed)
    torch.manual_seed(seed)
    nn.init.orthogonal_(ours, gain=1.5)
    torch.nn.init.orthogonal_(theirs, gain=1.5)
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=0, atol=1e-10)


def test_constant_family_and_gain():
    w = sr.tensor(np.zeros((3, 4)))
    assert np.all(nn.init.constant_(w, 0.25).numpy() == 0.25)
    assert np.all(nn.init.ones_(w).numpy() == 1)
    assert np.all(nn.init.zeros_(w).numpy() == 0)
    assert np.array_equal(nn.init.eye_(w).numpy(), np.eye(3, 4))
    for args in [("linear",), ("sigmoid",), ("tanh",), ("relu",), ("leaky_relu",), ("leaky_relu", 0.2), ("selu",),
                 ("conv1d",)]:
        assert nn.init.calculate_gain(*args) == torch.nn.init.calculate_gain(*args)
    with pytest.raises(ValueError, match="Unsupported nonlinearity gelu"):
        nn.init.calculate_gain("gelu")
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        nn.init.xavier_uniform_(sr.tensor(np.zeros(3)))
    with pytest.raises(ValueError, match="Mode fan_avg not supported"):
        nn.init.kaiming_uniform_(sr.tensor(np.zeros((2, 2))), mode="fan_avg")
    with pytest.raises(TypeError, match="must be a Tensor"):
        nn.init.normal_([1.0, 2.0])


def test_init_on_parameters_writes_in_place_and_keeps_grad_flag():
    lin = nn.Linear(3, 2)
    w = lin.weight
    nn.init.xavier_normal_(lin.weight)
    assert lin.weight is w and w.requires_grad
    assert lin.weight.numpy().std() > 0 if not w.requires_grad else w.detach().numpy().std() > 0


def test_generator_argument_leaves_the_global_stream_alone():
    sr.manual_seed(4)
    torch.manual_seed(4)
    g = Generator().manual_seed(1)
    tg = torch_gen(1)
    assert_same(sr.rand(5, generator=g), torch.rand(5, generator=tg), "own generator")
    assert_same(sr.rand(5), torch.rand(5), "global stream untouched")
    w, tw = sr.tensor(np.zeros((4, 4))), torch.zeros(4, 4, dtype=torch.float64)
    nn.init.uniform_(w, generator=g)
    torch.nn.init.uniform_(tw, generator=tg)
    assert_same(w, tw, "init with generator")


@given(seed=seeds, n=st.integers(16, 500))
def test_generic_float32_normal_kernel_is_the_same_distribution_draw(seed, n):
    """The generic build's kernel (ARM, older x86) uses the same uniforms as the AVX2 one: only libm's
    rounding differs from the Cephes polynomials, so the two draws agree to float32 precision."""
    import os

    old = os.environ.get("STEPRNN_NORMAL_KERNEL")
    try:
        os.environ["STEPRNN_NORMAL_KERNEL"] = "scalar"
        a = Generator().manual_seed(seed).normal_array((n,), 0.5, 2.0, np.float32)
        os.environ["STEPRNN_NORMAL_KERNEL"] = "avx2"
        b = Generator().manual_seed(seed).normal_array((n,), 0.5, 2.0, np.float32)
    finally:
        if old is None:
            os.environ.pop("STEPRNN_NORMAL_KERNEL", None)
        else:
            os.environ["STEPRNN_NORMAL_KERNEL"] = old
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


@given(st.lists(st.tuples(*(st.floats(-1e6, 1e6, width=32, allow_subnormal=False),) * 3), min_size=64, max_size=200))
def test_float32_fma_rounds_once_like_the_c_library(triples):
    import ctypes
    import ctypes.util

    from steprnn.random import _fma32, _fma32_numpy

    fmaf = ctypes.CDLL(ctypes.util.find_library("m")).fmaf
    fmaf.restype, fmaf.argtypes = ctypes.c_float, [ctypes.c_float] * 3
    a, b, c = (np.array(v, dtype=np.float32) for v in zip(*triples))
    want = np.array([fmaf(float(x), float(y), float(z)) for x, y, z in zip(a, b, c)], dtype=np.float32)
    assert np.array_equal(_fma32(a, b, c), want)
    assert np.array_equal(_fma32_numpy(a, b, c), want)


@given(a=st.floats(-1e6, 1e6, allow_nan=False), b=st.floats(-1e6, 1e6, allow_nan=False),
       c=st.one_of(st.floats(-1e6, 1e6, allow_nan=False), st.sampled_from([1e-88, -1e-88, 5e-324, 0.0])))
def test_fma64_rounds_once(a, b, c):
    """float64 a*b + c with one rounding, ties of a*b broken by a tiny c as the C library's fma does."""
    from fractions import Fraction

    from steprnn.random import _fma64

    assert float(_fma64(a, b, c)) == float(Fraction(a) * Fraction(b) + Fraction(c))


@needs_avx2_normal
@pytest.mark.parametrize("mean", [1e-88, -1e-88, 5e-324])
def test_normal_with_a_tiny_mean_matches(mean):
    """A mean far below the samples' ulp still breaks the FMA's ties as torch's does."""
    for seed in range(5):
        for n in (5, 40):
            ours = Generator().manual_seed(seed).normal_array((n,), mean, 3.0, np.float64)
            theirs = torch.empty(n, dtype=torch.float64).normal_(mean, 3.0, generator=torch_gen(seed))
            assert_same(ours, theirs, f"normal_({mean}, 3) of {n}, seed {seed}")


def test_compiled_loops_are_cached_with_the_kernels_not_beside_steprnn():
    """random's Numba loops (permutation swaps, Box–Muller, float32 fma) cache where the kernels do:
    a cache file beside ``steprnn/random.py`` would survive ``pip uninstall`` and turn the leftover
    folder into a namespace package that shadows a later ``pip install -e``."""
    import pathlib

    pkg = pathlib.Path(sr.__file__).resolve().parent
    before = set(pkg.glob("__pycache__/*.nb?"))
    sr.manual_seed(3)
    sr.randperm(5000)              # the compiled swap loop (n > 2000)
    sr.randn(4096)                 # Box–Muller blocks and the float32 fma
    sr.randn(4096, dtype=sr.float64)
    from steprnn import random as rnd
    assert all(rnd._jitted(name) is not None for name in ("swap_loop", "box_muller", "fma32_loop"))
    assert set(pkg.glob("__pycache__/*.nb?")) == before


_NORMALS_IN_CHILD = """
import sys, numpy as np, torch, steprnn as sr
from steprnn.random import _normal_kernel
bad = 0
for seed in (0, 7, 2**40 + 3):
    for n in (16, 37, 1000):
        torch.manual_seed(seed)
        sr.manual_seed(seed)
        bad += int((torch.randn(n).numpy() != sr.randn(n).numpy()).sum())
print(torch.backends.cpu.get_cpu_capability(), _normal_kernel(), bad)
"""


@pytest.mark.skipif(platform.machine().lower() not in ("x86_64", "amd64"), reason="ATen's x86 builds")
@pytest.mark.parametrize("capability", ["default", "avx2", "avx512"])
def test_float32_normals_follow_each_aten_build_torch_can_run_here(capability):
    """With ``ATEN_CPU_CAPABILITY`` set, torch runs that build's kernel (where this CPU has it) and
    steprnn follows: bit for bit, the generic kernel included (the one ARM runs)."""
    import subprocess
    import sys

    from isolation import clean_env

    env = clean_env(keep_cache=True, ATEN_CPU_CAPABILITY=capability)
    env.pop("STEPRNN_NORMAL_KERNEL", None)
    done = subprocess.run([sys.executable, "-c", _NORMALS_IN_CHILD], env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    torch_build, kernel, bad = done.stdout.split()
    if torch_build.lower() != capability:
        pytest.skip(f"this CPU cannot run ATen's {capability} build (torch fell back to {torch_build})")
    assert kernel == ("scalar" if capability == "default" else "avx2")
    assert int(bad) == 0, f"{bad} of 3159 float32 normals differ from torch's {torch_build} build"
