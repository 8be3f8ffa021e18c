"""The seam between layers and kernels: the cell-kind table, the weight-layout cache, the run records.

* ``steprnn.cell_kinds`` is the one place that says what each cell kind is: these tests check that
  the layers, the cells, the traces and the docstrings agree with it (and with the oracle);
* the kernels read the parameters' own memory through the per-module weight cache, so a change
  to a parameter's values — however it is made — is what the next forward computes with;
* run records are frozen, and tracing or a backward leaves what a forward returned untouched.
"""
from __future__ import annotations

import copy
import dataclasses
import pickle
import pydoc

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import reference
import steprnn as sr
import steprnn.nn as nn
from helpers import close, draw_kind, twin_layers
from steprnn._runs import DirectionRun, LayerRun
from steprnn.cell_kinds import KINDS, PARAMETERS, cell_kind, direction_key, parameter_name

LAYERS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}
CELLS = {"rnn": nn.RNNCell, "lstm": nn.LSTMCell, "gru": nn.GRUCell}


# -- the table --------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", list(KINDS))
def test_table_agrees_with_the_oracle_and_torch(kind):
    spec = KINDS[kind]
    assert spec.gates == reference.GATES[kind]
    assert spec.rows_per_unit == reference.NUM_BLOCKS[kind]
    t_layer = getattr(torch.nn, spec.display)(3, 5)
    assert t_layer.weight_ih_l0.shape[0] == spec.rows_per_unit * 5
    assert set(spec.activations) == set(spec.gates)
    assert set(spec.activations.values()) <= {"σ", "tanh"}
    assert spec.pre_names[:len(spec.gates)] == spec.gates or not spec.gates
    assert cell_kind(kind) is spec


def test_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="unknown cell kind 'elman'"):
        cell_kind("elman")


@given(data=st.data())
def test_layers_and_traces_follow_the_table(data):
    kind, H, extra = data.draw(st.composite(draw_kind)())
    layers, bidirectional = data.draw(st.integers(1, 2)), data.draw(st.booleans())
    spec = KINDS[kind]
    layer = LAYERS[kind](3, H, num_layers=layers, bidirectional=bidirectional, dtype=np.float64, **extra)
    D = 2 if bidirectional else 1
    H_out = extra.get("proj_size", H)
    # parameter names and shapes
    expected = [parameter_name(short, k, d) for k in range(layers) for d in range(D) for short, _ in PARAMETERS
                if short != "w_hr" or "proj_size" in extra]
    assert list(layer.state_dict()) == expected
    assert layer.weight_hh_l0.shape == (spec.rows_per_unit * H, H_out)
    # the trace: gate names, key format, record widths
    x = np.random.default_rng(0).standard_normal((4, 2, 3))
    tr = sr.trace(layer, x)
    assert tr.gate_names == spec.gates
    widths = {"gates": spec.gate_width * H, "pre": spec.pre_width * H, "c": H}
    for k in range(layers):
        for d in range(D):
            key = direction_key(k, d)
            for name in spec.record_names:
                assert tr.arrays[key + name].shape == (4, 2, widths[name]), (key, name)
            assert tr.arrays[key + "h"].shape == (4, 2, H_out)
    per_step = sum(tr.arrays[direction_key(k, d) + n].shape[2] for k in range(layers) for d in range(D)
                   for n in spec.record_names + ("h",))
    assert per_step == layers * D * spec.record_width(H, H_out)
    for name in spec.pre_names:
        assert tr.preactivation(name).shape == (4, 2, H)


@pytest.mark.parametrize("kind", list(KINDS))
def test_cells_follow_the_table(kind):
    cell = CELLS[kind](3, 4)
    assert cell.weight_ih.shape == (KINDS[kind].rows_per_unit * 4, 3)
    tr = sr.trace(cell, np.ones((2, 3), np.float32))
    assert tr.gate_names == KINDS[kind].gates


@pytest.mark.parametrize("cls", [nn.RNN, nn.LSTM, nn.GRU, nn.RNNCell, nn.LSTMCell, nn.GRUCell])
def test_help_shows_the_equations_and_the_shapes(cls):
    text = pydoc.render_doc(cls, renderer=pydoc.plaintext)
    kind = {"RNN": "rnn", "LSTM": "lstm", "GRU": "gru"}[cls.__name__.replace("Cell", "")]
    for line in KINDS[kind].equations.split("\n"):
        assert line in text, f"{cls.__name__}'s docstring lacks the equation {line!r}"
    for section in ("Inputs:", "Outputs:", "Args:", "Attributes:", "Examples::", "H_in", "H_out"):
        assert section in text, f"{cls.__name__}'s docstring lacks {section!r}"
    if not cls.__name__.endswith("Cell"):
        assert "(D * num_layers, N, H_out)" in text and "(L, N, H_in)" in text and "batch_first" in text


# -- the weight cache ---------------------------------------------------------------------------------

def outputs(layer, x):
    with sr.no_grad():
        out = layer(x)[0]
    return np.asarray(out).copy()


@pytest.mark.parametrize("kind", list(KINDS))
def test_every_way_of_changing_a_parameter_reaches_the_next_forward(kind):
    t, s = twin_layers(kind, 3, 4, np.float64, num_layers=2, bidirectional=True)
    x = np.random.default_rng(1).standard_normal((5, 2, 3))
    xt = torch.from_numpy(x)

    def same_as_torch(what):
        close(outputs(s, x), t(xt)[0], np.float64, what)

    same_as_torch("before any change")
    with torch.no_grad():  # load_state_dict writes into the arrays in place (np.copyto)
        for p in t.parameters():
            p.mul_(0.5)
    s.load_state_dict(t.state_dict())
    same_as_torch("after load_state_dict")
    with torch.no_grad():  # a raw NumPy write through .data
        t.weight_hh_l1_reverse[0, 0] = 3.0
    s.weight_hh_l1_reverse.data[0, 0] = 3.0
    same_as_torch("after writing into .data")
    with torch.no_grad():  # a new array assigned to .data
        t.weight_ih_l0.copy_(t.weight_ih_l0 * -1)
    s.weight_ih_l0.data = s.weight_ih_l0.data * -1
    same_as_torch("after assigning .data")
    with torch.no_grad():  # a new Parameter
        t.bias_hh_l0.zero_()
    s.bias_hh_l0 = nn.Parameter(np.zeros_like(s.bias_hh_l0.data))
    same_as_torch("after a new Parameter")
    with torch.no_grad():  # a strided array (not C-contiguous) as the weight
        t.weight_hh_l0.copy_(t.weight_hh_l0 * 2)
    big = np.zeros((s.weight_hh_l0.shape[0], 2 * s.weight_hh_l0.shape[1]))
    big[:, ::2] = s.weight_hh_l0.data * 2
    s.weight_hh_l0.data = big[:, ::2]
    same_as_torch("after a strided array")
    with torch.no_grad():
        t.weight_hh_l0[1, 1] = -2.0
    big[1, 2] = -2.0  # a write into that strided array
    same_as_torch("after writing into the strided array")


def test_an_optimiser_step_reaches_the_next_forward():
    t, s = twin_layers("lstm", 3, 4, np.float64, proj_size=2)
    x = np.random.default_rng(2).standard_normal((4, 3, 3))
    opt_s, opt_t = sr.optim.SGD(s.parameters(), lr=0.1), torch.optim.SGD(t.parameters(), lr=0.1)
    for _ in range(2):
        out, _ = s(x)
        out.sum().backward()
        opt_s.step()
        opt_t.zero_grad()
        t(torch.from_numpy(x))[0].sum().backward()
        opt_t.step()
        opt_s.zero_grad()
    close(outputs(s, x), t(torch.from_numpy(x))[0], np.float64, "after two SGD steps")


@pytest.mark.parametrize("duplicate", [copy.deepcopy, lambda m: pickle.loads(pickle.dumps(m))])
def test_copies_of_a_layer_read_their_own_parameters(duplicate):
    _, s = twin_layers("gru", 3, 4, np.float64)
    x = np.random.default_rng(3).standard_normal((4, 2, 3))
    before = outputs(s, x)  # fills the cache
    twin = duplicate(s)
    twin.weight_hh_l0.data[...] = 0.0
    np.testing.assert_array_equal(outputs(s, x), before)  # the original is untouched
    fresh = nn.GRU(3, 4, dtype=np.float64)
    fresh.load_state_dict(twin.state_dict())
    np.testing.assert_array_equal(outputs(twin, x), outputs(fresh, x))


def test_module_to_another_dtype_rebuilds_the_layout():
    _, s = twin_layers("lstm", 3, 4, np.float32)
    x = np.random.default_rng(4).standard_normal((4, 2, 3))
    out32 = outputs(s, x.astype(np.float32))
    s.to(np.float64)
    out64 = outputs(s, x)
    assert out64.dtype == np.float64
    np.testing.assert_allclose(out64, out32, atol=1e-5)


# -- run records --------------------------------------------------------------------------------------

def test_run_records_are_frozen():
    layer = nn.LSTM(3, 4)
    _, run = layer._run(np.zeros((2, 1, 3), np.float32), None, record=None)
    assert isinstance(run, LayerRun) and isinstance(run.directions[0], DirectionRun)
    for record, field in ((run, "output"), (run, "kept"), (run.directions[0], "hs"), (run.layout, "active")):
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(record, field, None)


@pytest.mark.parametrize("kind", list(KINDS))
def test_backward_puts_its_gradients_beside_the_forward_record(kind):
    """The gradients a backward produces go to the trace's StateGradients; the forward record and
    the arrays the forward returned stay as they were."""
    layer = LAYERS[kind](3, 4, num_layers=2)
    x = sr.tensor(np.random.default_rng(5).standard_normal((5, 2, 3)).astype(np.float32), requires_grad=True)
    tr = sr.trace(layer, x)
    out = tr.output
    kept = {k: a.copy() for k, a in tr.arrays.items()}
    returned = np.asarray(out.data).copy()
    with pytest.raises(RuntimeError, match="no gradients recorded"):
        tr.grad_h()
    (out * out).sum().backward()
    assert tr.grad_h(1).shape == (5, 2, 4) and np.all(np.isfinite(tr.grad_h(0)))
    # the top layer's last step: dL/dh_T = dL/d(output_T) = 2 output_T
    np.testing.assert_allclose(tr.grad_h(1)[-1], 2 * np.asarray(out.data)[-1], rtol=1e-6)
    for k, a in tr.arrays.items():
        np.testing.assert_array_equal(a, kept[k], err_msg=k)
    np.testing.assert_array_equal(np.asarray(out.data), returned)
