"""Fuzzing every public entry point with odd types, shapes and values.

Whatever it is given, a public function of steprnn either returns or raises ValueError,
TypeError, RuntimeError or MemoryError with a message, never another exception (IndexError,
KeyError, a Numba typing error, a RecursionError), and never modifies its inputs.
"""
from __future__ import annotations

import io
import json
import warnings

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import steprnn as sr
import steprnn.nn as nn
from steprnn.nn.utils import rnn as packing

ALLOWED = (ValueError, TypeError, RuntimeError, MemoryError)
SPECIAL = [0.0, -1.5, 2.0, np.nan, np.inf, -np.inf, 1e39, -1e-40]
ODD_SCALARS = [None, True, 0, -1, 3, 2.5, np.nan, "abc", b"x", {}, {"a": 1}, set(), object(), [], [[1, 2], [3]],
               (1, 2), np.int64(2), np.float32(1.5)]

fuzz = settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))


# -- snapshots: nothing may change what it was given ------------------------------------------

def snapshot(value, seen=None):
    """A deep copy of the numbers inside ``value`` (arrays, Tensors, torch tensors, containers)."""
    seen = set() if seen is None else seen
    if id(value) in seen:
        return None
    seen.add(id(value))
    if isinstance(value, sr.Tensor):
        return ("T", np.array(value.data, copy=True), value.data.dtype)
    if isinstance(value, np.ndarray):
        return ("A", value.copy(), value.dtype)
    if isinstance(value, torch.Tensor):
        return ("P", value.detach().clone())
    if isinstance(value, dict):
        return {k: snapshot(v, seen) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [snapshot(v, seen) for v in value]
    return None


def unchanged(before, value, seen=None) -> bool:
    seen = set() if seen is None else seen
    if id(value) in seen:
        return True
    seen.add(id(value))
    if isinstance(value, sr.Tensor):
        return before[2] == value.data.dtype and np.array_equal(before[1], value.data, equal_nan=before[2].kind in "fc")
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "OUS":
            return before[2] == value.dtype and np.array_equal(before[1], value)
        return before[2] == value.dtype and np.array_equal(before[1], value, equal_nan=value.dtype.kind in "fc")
    if isinstance(value, torch.Tensor):
        return torch.equal(before[1], value.detach()) or bool(torch.isnan(before[1]).any())
    if isinstance(value, dict):
        return all(unchanged(before[k], v, seen) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return len(before) == len(value) and all(unchanged(b, v, seen) for b, v in zip(before, value))
    return True


def call(fn, *args, **kwargs):
    """``fn(*args, **kwargs)``: an allowed exception (with a message) or a result; inputs untouched."""
    before = snapshot((args, kwargs))
    result = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            result = fn(*args, **kwargs)
        except ALLOWED as err:
            assert str(err).strip(), f"{type(err).__name__} without a message from {fn}"
        except Exception as err:  # noqa: BLE001 - the point of the test
            pytest.fail(f"{getattr(fn, '__qualname__', fn)} raised {type(err).__name__}: {err!r}")
    assert unchanged(before, (args, kwargs)), f"{getattr(fn, '__qualname__', fn)} modified its input"
    return result


# -- strategies ---------------------------------------------------------------------------------

@st.composite
def numbers(draw, shape, dtype):
    """An array of ``shape`` and ``dtype`` with ordinary and special values."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    dtype = np.dtype(dtype)
    if dtype.kind == "O":
        return np.full(shape, None, dtype=object)
    if dtype.kind == "U":
        return np.full(shape, "ab", dtype=dtype)
    a = rng.standard_normal(shape)
    if a.size and dtype.kind in "fc" and draw(st.booleans()):
        flat = a.reshape(-1)
        flat[rng.integers(0, flat.size, size=min(flat.size, 3))] = draw(st.sampled_from(SPECIAL))
    with np.errstate(all="ignore"):
        return np.asarray((a * 3).astype(dtype))


@st.composite
def wrapped(draw, array):
    """``array`` as the caller might hold it: ndarray (maybe read-only or strided), Tensor, torch, list."""
    form = draw(st.sampled_from(["array", "array", "tensor", "grad", "torch", "list", "readonly", "strided"]))
    if form == "tensor":
        return sr.Tensor(array) if array.dtype.kind in "biufc" else array
    if form == "grad" and array.dtype.kind == "f":
        return sr.Tensor(array.copy(), requires_grad=True)
    if form == "torch" and array.dtype.kind in "biuf" and array.dtype != np.uint16:
        return torch.from_numpy(array.copy())
    if form == "list" and array.dtype.kind in "biuf":
        return array.tolist()
    if form == "readonly":
        a = array.copy()
        a.setflags(write=False)
        return a
    if form == "strided" and array.ndim >= 1:
        return np.flip(array, axis=0)
    return array


DTYPES = ["float32", "float32", "float64", "float64", "int64", "bool", "float16", "complex64", "object", "U2"]


@st.composite
def odd_values(draw, max_dims=4):
    """Anything: a scalar, a string, a dict, or an array of any dtype, shape and values."""
    if draw(st.integers(0, 4)) == 0:
        return draw(st.sampled_from(ODD_SCALARS))
    ndim = draw(st.integers(0, max_dims))
    shape = tuple(draw(st.lists(st.integers(0, 4), min_size=ndim, max_size=ndim)))
    return draw(wrapped(draw(numbers(shape, draw(st.sampled_from(DTYPES))))))


@st.composite
def near(draw, shape, dtype):
    """Mostly a value of ``shape`` and ``dtype`` (odd numbers inside), sometimes a size off, sometimes anything."""
    choice = draw(st.integers(0, 9))
    if choice == 0:
        return draw(odd_values())
    if choice == 1 and shape:
        shape = list(shape)
        shape[draw(st.integers(0, len(shape) - 1))] += draw(st.sampled_from([-1, 1]))
        shape = tuple(max(s, 0) for s in shape)
    if choice == 2:
        dtype = draw(st.sampled_from(DTYPES))
    return draw(wrapped(draw(numbers(shape, dtype))))


@st.composite
def layers(draw):
    kind = draw(st.sampled_from(["RNN", "LSTM", "GRU"]))
    H = draw(st.integers(1, 4))
    kw = dict(num_layers=draw(st.integers(1, 2)), bias=draw(st.booleans()), batch_first=draw(st.booleans()),
              bidirectional=draw(st.booleans()), dtype=draw(st.sampled_from([np.float32, np.float64])))
    if kind == "LSTM" and H > 1 and draw(st.booleans()):
        kw["proj_size"] = draw(st.integers(1, H - 1))
    layer = getattr(nn, kind)(draw(st.integers(1, 4)), H, **kw)
    if draw(st.booleans()):
        layer.eval()
    return layer


@st.composite
def cells(draw):
    kind = draw(st.sampled_from(["RNNCell", "LSTMCell", "GRUCell"]))
    return getattr(nn, kind)(draw(st.integers(1, 4)), draw(st.integers(1, 4)), bias=draw(st.booleans()),
                             dtype=draw(st.sampled_from([np.float32, np.float64])))


def _real_hidden(layer):
    return layer.proj_size or layer.hidden_size


@st.composite
def layer_inputs(draw, layer):
    """(x, hx) for a recurrent layer: plausible shapes with odd values, or anything."""
    T, N = draw(st.integers(0, 4)), draw(st.integers(0, 3))
    batched = draw(st.booleans())
    shape = ((N, T) if layer.batch_first else (T, N)) if batched else (T,)
    dtype = layer.dtype
    if draw(st.integers(0, 4)) == 0:
        x = draw(hand_made_packed(layer.input_size, dtype))
        batched = True
    else:
        x = draw(near(shape + (layer.input_size,), dtype))
    hx = None
    if draw(st.booleans()):
        LD = layer.num_layers * layer.num_directions
        hshape = (LD, N) if batched else (LD,)
        h = draw(near(hshape + (_real_hidden(layer),), dtype))
        hx = (h, draw(near(hshape + (layer.hidden_size,), dtype))) if layer.kind == "lstm" else h
        if draw(st.integers(0, 5)) == 0:
            hx = draw(odd_values())
    return x, hx


@st.composite
def hand_made_packed(draw, features, dtype):
    """A PackedSequence built field by field (no constructor checks): sometimes consistent."""
    lengths = sorted(draw(st.lists(st.integers(1, 4), min_size=1, max_size=4)), reverse=True)
    batch_sizes = np.array([sum(1 for n in lengths if n > t) for t in range(lengths[0])], np.int64)
    data = draw(numbers((int(batch_sizes.sum()), features), dtype))
    perm = np.array(draw(st.permutations(range(len(lengths)))), np.int64)
    fields = [sr.Tensor(data), sr.Tensor(batch_sizes), sr.Tensor(perm), sr.Tensor(np.argsort(perm))]
    for _ in range(draw(st.integers(0, 2))):
        i = draw(st.integers(0, 3))
        fields[i] = draw(st.one_of(st.none(), odd_values(max_dims=2)))
    if draw(st.booleans()):
        try:
            return packing.PackedSequence(*fields)  # the constructor converts what it can
        except (TypeError, ValueError):
            pass
    return tuple.__new__(packing.PackedSequence, fields)


def _backward_of(result, draw):
    """Backward through whatever came out, with a gradient that is right or odd."""
    outs = result if isinstance(result, tuple) else (result,)
    flat = []
    for o in outs:
        flat.extend(o if isinstance(o, tuple) and not isinstance(o, packing.PackedSequence) else (o,))
    for o in flat:
        t = o.data if isinstance(o, packing.PackedSequence) else o
        if isinstance(t, sr.Tensor) and t.requires_grad:
            grad = draw(near(t.shape, t.dtype)) if draw(st.booleans()) else None
            if grad is None:
                call(lambda: t.sum().backward())
            else:
                call(t.backward, grad)
            return


# -- the entry points ---------------------------------------------------------------------------

@fuzz
@given(st.data())
def test_fuzz_recurrent_layers(data):
    layer = data.draw(layers())
    x, hx = data.draw(layer_inputs(layer))
    result = call(layer, x, hx)
    if result is not None:
        _backward_of(result, data.draw)


@fuzz
@given(st.data())
def test_fuzz_cells(data):
    cell = data.draw(cells())
    N = data.draw(st.integers(0, 3))
    shape = (N,) if data.draw(st.booleans()) else ()
    x = data.draw(near(shape + (cell.input_size,), cell.dtype))
    hx = None
    if data.draw(st.booleans()):
        h = data.draw(near(shape + (cell.hidden_size,), cell.dtype))
        hx = (h, data.draw(near(shape + (cell.hidden_size,), cell.dtype))) if cell.kind == "lstm" else h
    result = call(cell, x, hx)
    if result is not None:
        _backward_of(result, data.draw)


@fuzz
@given(st.sampled_from(["RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell"]),
       st.lists(st.one_of(st.integers(-1, 3), st.sampled_from(ODD_SCALARS)), min_size=0, max_size=3),
       st.dictionaries(st.sampled_from(["num_layers", "bias", "batch_first", "dropout", "bidirectional",
                                        "proj_size", "nonlinearity", "dtype", "device", "bogus"]),
                       st.one_of(st.integers(-1, 3), st.sampled_from(ODD_SCALARS + ["tanh", "relu", "cpu", "cuda"])),
                       max_size=3))
def test_fuzz_constructors(name, args, kwargs):
    call(getattr(nn, name), *args, **kwargs)


@fuzz
@given(st.data())
def test_fuzz_packing_functions(data):
    draw = data.draw
    which = draw(st.sampled_from(["pack_padded", "pad_packed", "pack_seq", "pad_seq", "unpad", "unpack", "invert"]))
    if which == "pack_padded":
        B = draw(st.integers(0, 3))
        x = draw(near((draw(st.integers(0, 4)), B, 2), np.float32))
        lengths = draw(st.one_of(st.lists(st.integers(-1, 5), min_size=B, max_size=B), odd_values(max_dims=2)))
        call(packing.pack_padded_sequence, x, lengths, batch_first=draw(st.sampled_from([False, True, 1, "x"])),
             enforce_sorted=draw(st.sampled_from([False, True, None])))
    elif which == "pad_packed":
        seq = draw(hand_made_packed(2, np.float64))
        call(packing.pad_packed_sequence, seq, batch_first=draw(st.booleans()),
             padding_value=draw(st.sampled_from([0.0, np.nan, -1, "x", None])),
             total_length=draw(st.sampled_from([None, 0, 3, 10, 2.0, "x"])))
    elif which in ("pack_seq", "pad_seq"):
        seqs = draw(st.lists(st.one_of(near((draw(st.integers(0, 4)), 2), np.float32), odd_values(max_dims=3)),
                             min_size=0, max_size=4))
        as_generator = draw(st.booleans())
        given_seqs = (s for s in seqs) if as_generator else seqs
        if which == "pack_seq":
            call(packing.pack_sequence, given_seqs, enforce_sorted=draw(st.booleans()))
        else:
            call(packing.pad_sequence, given_seqs, batch_first=draw(st.booleans()),
                 padding_value=draw(st.sampled_from([0.0, 1, np.inf, "x"])),
                 padding_side=draw(st.sampled_from(["right", "left", "middle", None])))
    elif which == "unpad":
        call(packing.unpad_sequence, draw(odd_values()), draw(odd_values(max_dims=1)),
             batch_first=draw(st.booleans()))
    elif which == "unpack":
        call(packing.unpack_sequence, draw(hand_made_packed(2, np.float32)))
    else:
        call(packing.invert_permutation, draw(odd_values(max_dims=2)))


@fuzz
@given(st.data())
def test_fuzz_trace_and_its_accessors(data):
    draw = data.draw
    target = draw(st.one_of(layers(), cells()))
    if hasattr(target, "num_layers"):  # a layer, not a cell
        x, hx = draw(layer_inputs(target))
    else:
        x, hx = draw(near((draw(st.integers(0, 3)), target.input_size), target.dtype)), None
    options = {}
    for name in ("layers", "batch", "max_bytes"):
        if draw(st.booleans()):
            options[name] = draw(st.one_of(st.integers(-1, 3), st.lists(st.integers(-1, 3), max_size=3),
                                           st.sampled_from(ODD_SCALARS + [1 << 40])))
    with sr.no_grad() if draw(st.booleans()) else _nothing():
        tr = call(sr.trace, target, x, hx, **options)
    if tr is None:
        return
    name = draw(st.sampled_from(["i", "f", "g", "o", "r", "z", "n", "hn", "h", "x", 0, None]))
    ints = st.one_of(st.integers(-2, 3), st.sampled_from([False, 1.0, "0", None]))
    call(tr.gate, name, draw(ints), draw(ints))
    call(tr.preactivation, name, draw(ints), draw(ints))
    call(tr.h, draw(ints), draw(ints))
    call(tr.c, draw(ints), draw(ints))
    call(tr.gradient_norms, draw(ints), draw(ints), state=draw(st.sampled_from(["h", "c", "x", 0])))
    step = call(tr.step, draw(ints), draw(ints), draw(ints), draw(ints))
    if step is not None:
        call(step.explain, draw(ints))
        call(str, step)


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


@fuzz
@given(st.data())
def test_fuzz_tracing_blocks(data):
    draw = data.draw
    model = nn.Sequential()
    model.add_module("gru", nn.GRU(2, 3))
    options = {}
    if draw(st.booleans()):
        options[draw(st.sampled_from(["layers", "batch", "max_bytes"]))] = draw(
            st.one_of(st.integers(-1, 2), st.sampled_from(ODD_SCALARS)))
    target = model if draw(st.integers(0, 5)) else draw(st.sampled_from(ODD_SCALARS))

    def run():
        with sr.tracing(target, **options) as rec:
            model.gru(draw(near((3, 1, 2), np.float32)))
        return rec

    call(run)


@fuzz
@given(st.data())
def test_fuzz_load_state_dict(data):
    draw = data.draw
    layer = draw(st.one_of(layers(), cells()))
    own = layer.state_dict()
    state = {}
    for key, value in own.items():
        roll = draw(st.integers(0, 5))
        if roll == 0:
            continue  # missing
        state[key] = draw(near(value.shape, draw(st.sampled_from([value.dtype, np.float64, np.float32]))))
    if draw(st.booleans()):
        state[draw(st.sampled_from(["bogus", "weight_ih_l9", ""]))] = draw(odd_values())
    before = layer.state_dict()
    result = call(layer.load_state_dict, state if draw(st.integers(0, 6)) else draw(odd_values()),
                  strict=draw(st.booleans()))
    if result is None:  # refused: nothing changed
        for k, v in layer.state_dict().items():
            np.testing.assert_array_equal(v, before[k])
    for k, v in layer.state_dict().items():
        assert np.isfinite(v).all(), f"{k} holds non-finite values after load_state_dict"


@pytest.fixture(scope="module")
def trace_files():
    out = []
    for layer, x in [(nn.LSTM(2, 3, num_layers=2, bidirectional=True), np.ones((3, 2, 2), np.float32)),
                     (nn.GRUCell(2, 3, dtype=np.float64), np.ones((2, 2))),
                     (nn.RNN(2, 3, batch_first=True), np.ones((2, 4, 2), np.float32))]:
        buf = io.BytesIO()
        sr.trace(layer, x).save(buf)
        out.append(buf.getvalue())
    packed = pack_sequence_of_ones()
    buf = io.BytesIO()
    sr.trace(nn.GRU(2, 3), packed).save(buf)
    out.append(buf.getvalue())
    return out


def pack_sequence_of_ones():
    return packing.pack_sequence([np.ones((3, 2), np.float32), np.ones((1, 2), np.float32)])


def _mutated_meta(files, draw):
    meta = json.loads(files["meta"].tobytes())
    key = draw(st.sampled_from(sorted(meta)))
    meta[key] = draw(st.one_of(st.integers(-2, 10), st.sampled_from(
        [None, True, "1", "lstm", "gru", "relu", "float16", [], [0], [0, 0], [5, 9], {"a": []}, 1e9, -0.5])))
    files["meta"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)


@fuzz
@given(st.data())
def test_fuzz_trace_load(trace_files, data):
    draw = data.draw
    raw = draw(st.sampled_from(trace_files))
    how = draw(st.sampled_from(["bytes", "truncate", "meta", "array", "drop", "add"]))
    if how == "bytes":
        raw = bytearray(raw)
        for _ in range(draw(st.integers(1, 8))):
            raw[draw(st.integers(0, len(raw) - 1))] = draw(st.integers(0, 255))
        raw = bytes(raw)
    elif how == "truncate":
        raw = raw[:draw(st.integers(0, len(raw) - 1))]
    else:
        with np.load(io.BytesIO(raw)) as z:
            files = {k: z[k] for k in z.files}
        key = draw(st.sampled_from(sorted(files)))
        if how == "meta":
            _mutated_meta(files, draw)
        elif how == "array":
            a = files[key]
            shape = tuple(max(0, s + draw(st.integers(-1, 1))) for s in a.shape)
            files[key] = draw(numbers(shape, draw(st.sampled_from([a.dtype, "float16", "int64", "float64"]))))
        elif how == "drop":
            del files[key]
        else:
            files["a__l9d0.h"] = np.zeros((1, 1, 1))
        buf = io.BytesIO()
        np.savez(buf, **files)
        raw = buf.getvalue()
    tr = call(sr.Trace.load, io.BytesIO(raw))
    if tr is None:
        return
    # a file that loads works
    layer = tr.layers[0]
    for d in range(tr.num_directions):
        call(tr.h, layer, d)
        for g in tr.gate_names:
            call(tr.gate, g, layer, d)
        for b in tr.batch[:2]:
            for t in range(min(tr.seq_len, 2)):
                step = call(tr.step, t, layer, d, b)
                if step is not None:
                    call(step.explain, 0)
                    call(str, step)
    call(repr, tr)
