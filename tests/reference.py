"""A slow, obviously correct float64 oracle for PyTorch's recurrent layers.

Written straight from the equations in the docstrings of ``torch.nn.RNN``, ``torch.nn.LSTM`` and
``torch.nn.GRU`` (torch 2.13): a plain Python loop over batch elements and time steps, NumPy only.
No Numba, no torch, no steprnn (torch tensors passed in are converted to float64 NumPy arrays).

Weight layout, as in PyTorch: ``w_ih`` stacks the per-gate input matrices row-wise, ``w_hh`` the
per-gate hidden matrices, in the order

* RNN:  one block                      (H rows)
* LSTM: i | f | g | o                  (4*H rows)
* GRU:  r | z | n                      (3*H rows)

Shapes: N batch, I input features, H hidden size, H_out = proj_size or H (LSTM projection), T or L
sequence length, D = 2 if bidirectional else 1.
"""
from __future__ import annotations

import numpy as np

GATES = {"rnn": (), "lstm": ("i", "f", "g", "o"), "gru": ("r", "z", "n")}
NUM_BLOCKS = {"rnn": 1, "lstm": 4, "gru": 3}


def sigmoid(a: np.ndarray) -> np.ndarray:
    """σ(a) = 1 / (1 + exp(-a)), elementwise."""
    with np.errstate(over="ignore"):  # exp(-a) = inf for a << 0 gives the correct limit 0
        return 1.0 / (1.0 + np.exp(-a))


def to_f64(a):
    """Any array-like (NumPy array, list, torch tensor) as a float64 NumPy array; None stays None."""
    if a is None:
        return None
    if hasattr(a, "detach"):  # a torch tensor, without importing torch
        a = a.detach().cpu().numpy()
    return np.array(a, dtype=np.float64)  # always a copy: the oracle never aliases its inputs


def _check_kind(kind: str, nonlinearity: str) -> None:
    if kind not in NUM_BLOCKS:
        raise ValueError(f"kind must be 'rnn', 'lstm' or 'gru', not {kind!r}")
    if nonlinearity not in ("tanh", "relu"):
        raise ValueError(f"nonlinearity must be 'tanh' or 'relu', not {nonlinearity!r}")


def cell_step(kind: str, x, h, c, p: dict, nonlinearity: str = "tanh"):
    """One time step of one layer in one direction.

    Args:
        kind: ``'rnn'``, ``'lstm'`` or ``'gru'``.
        x: input (N, I).
        h: previous hidden state (N, H_out).
        c: previous cell state (N, H) for LSTM, None otherwise.
        p: dict with ``w_ih`` (G*H, I), ``w_hh`` (G*H, H_out), ``b_ih`` (G*H,) or None,
           ``b_hh`` (G*H,) or None, ``w_hr`` (P, H) or None (LSTM projection, H_out = P);
           G = 1 (RNN), 4 (LSTM) or 3 (GRU). Missing keys count as None.
        nonlinearity: ``'tanh'`` or ``'relu'`` (RNN only).

    Returns:
        ``(h_new (N, H_out), c_new (N, H) or None, gates, pre)``. ``gates`` maps gate names to the
        activated gate values (N, H): LSTM ``i f g o``, GRU ``r z n``, RNN none (empty dict).
        ``pre`` maps the same names to the pre-activations (N, H): for GRU ``'n'`` the whole argument
        of tanh, W_in x + b_in + r ⊙ (W_hn h + b_hn), plus ``'hn'`` = W_hn h + b_hn; for RNN the
        single key ``'h'`` = W_ih x + b_ih + W_hh h + b_hh.
    """
    _check_kind(kind, nonlinearity)
    x, h, c = to_f64(x), to_f64(h), to_f64(c)
    w_ih, w_hh = to_f64(p["w_ih"]), to_f64(p["w_hh"])
    b_ih, b_hh, w_hr = to_f64(p.get("b_ih")), to_f64(p.get("b_hh")), to_f64(p.get("w_hr"))
    G = NUM_BLOCKS[kind]
    H = w_ih.shape[0] // G
    N, I = x.shape
    H_out = H if w_hr is None else w_hr.shape[0]
    assert w_ih.shape == (G * H, I), f"w_ih {w_ih.shape} != {(G * H, I)}"
    assert w_hh.shape == (G * H, H_out), f"w_hh {w_hh.shape} != {(G * H, H_out)}"
    assert h.shape == (N, H_out), f"h {h.shape} != {(N, H_out)}"
    for name, b in (("b_ih", b_ih), ("b_hh", b_hh)):
        assert b is None or b.shape == (G * H,), f"{name} {b.shape} != {(G * H,)}"
    if kind == "lstm":
        assert c is not None and c.shape == (N, H), f"c {None if c is None else c.shape} != {(N, H)}"
        assert w_hr is None or w_hr.shape[1] == H, f"w_hr {w_hr.shape} has not {H} columns"
    else:
        assert c is None, "only LSTM has a cell state"
        assert w_hr is None, "only LSTM has a projection"

    # Gate k uses rows k*H:(k+1)*H of each stacked matrix / bias (W_i*, W_h*, b_i*, b_h*).
    def W_i(k):
        return w_ih[k * H:(k + 1) * H]

    def W_h(k):
        return w_hh[k * H:(k + 1) * H]

    def b_i(k):
        return np.zeros(H) if b_ih is None else b_ih[k * H:(k + 1) * H]

    def b_h(k):
        return np.zeros(H) if b_hh is None else b_hh[k * H:(k + 1) * H]

    def input_part(k):  # W_i· x + b_i·
        return x @ W_i(k).T + b_i(k)

    def hidden_part(k):  # W_h· h + b_h·
        return h @ W_h(k).T + b_h(k)

    if kind == "rnn":
        # h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)
        a = input_part(0) + hidden_part(0)
        h_new = np.tanh(a) if nonlinearity == "tanh" else np.maximum(a, 0.0)
        return h_new, None, {}, {"h": a}

    if kind == "lstm":
        pre = {name: input_part(k) + hidden_part(k) for k, name in enumerate(GATES["lstm"])}
        i = sigmoid(pre["i"])
        f = sigmoid(pre["f"])
        g = np.tanh(pre["g"])
        o = sigmoid(pre["o"])
        c_new = f * c + i * g
        h_new = o * np.tanh(c_new)
        if w_hr is not None:
            h_new = h_new @ w_hr.T  # h_t = W_hr h_t
        return h_new, c_new, {"i": i, "f": f, "g": g, "o": o}, pre

    # GRU
    pre_r = input_part(0) + hidden_part(0)
    pre_z = input_part(1) + hidden_part(1)
    r = sigmoid(pre_r)
    z = sigmoid(pre_z)
    hn = hidden_part(2)  # W_hn h + b_hn
    pre_n = input_part(2) + r * hn
    n = np.tanh(pre_n)
    h_new = (1.0 - z) * n + z * h
    return h_new, None, {"r": r, "z": z, "n": n}, {"r": pre_r, "z": pre_z, "n": pre_n, "hn": hn}


def layer_forward(kind: str, x, h0, c0, p: dict, reverse: bool = False, lengths=None,
                  nonlinearity: str = "tanh"):
    """One layer in one direction over a time-major sequence.

    Args:
        kind: ``'rnn'``, ``'lstm'`` or ``'gru'``.
        x: input (T, N, I).
        h0: initial hidden state (N, H_out).
        c0: initial cell state (N, H) for LSTM, None otherwise.
        p: weights as for :func:`cell_step`.
        reverse: run from the last step to the first (the ``_reverse`` direction).
        lengths: None (every element has T steps) or ints (N,) with 0 <= lengths[b] <= T. Element b
            only takes steps t < lengths[b]; forward it runs t = 0 .. lengths[b]-1, in reverse
            t = lengths[b]-1 .. 0 (PyTorch's packed-sequence semantics).
        nonlinearity: ``'tanh'`` or ``'relu'`` (RNN only).

    Returns:
        ``(out (T, N, H_out), h_n (N, H_out), c_n (N, H) or None)``: ``out[t, b]`` is the hidden state
        after step t, 0 where t >= lengths[b]; h_n / c_n the state after the element's last step
        (the initial state if it has none).
    """
    _check_kind(kind, nonlinearity)
    x = to_f64(x)
    assert x.ndim == 3, f"x must be (T, N, I), got shape {x.shape}"
    T, N, _ = x.shape
    h_n = to_f64(h0)
    c_n = to_f64(c0)
    assert h_n.ndim == 2 and h_n.shape[0] == N, f"h0 {h_n.shape} is not (N={N}, H_out)"
    assert (c_n is None) == (kind != "lstm"), "c0 is required for LSTM and only for LSTM"
    if lengths is None:
        lengths = [T] * N
    lengths = [int(n) for n in np.asarray(lengths).reshape(-1)]
    assert len(lengths) == N, f"{len(lengths)} lengths for a batch of {N}"
    assert all(0 <= n <= T for n in lengths), f"lengths {lengths} outside 0..{T}"

    out = np.zeros((T, N, h_n.shape[1]))
    for b in range(N):  # each batch element on its own: no masking to get wrong
        steps = range(lengths[b] - 1, -1, -1) if reverse else range(lengths[b])
        h = h_n[b:b + 1]
        c = None if c_n is None else c_n[b:b + 1]
        for t in steps:
            h, c, _, _ = cell_step(kind, x[t, b:b + 1], h, c, p, nonlinearity)
            out[t, b] = h[0]
        h_n[b] = h[0]
        if c_n is not None:
            c_n[b] = c[0]
    return out, h_n, c_n


def forward(kind: str, state_dict, x, hx=None, num_layers: int = 1, bidirectional: bool = False,
            proj_size: int = 0, nonlinearity: str = "tanh", batch_first: bool = False, lengths=None,
            bias: bool = True):
    """A whole stacked, optionally bidirectional ``torch.nn.RNN/LSTM/GRU`` forward (no dropout).

    Args:
        kind: ``'rnn'``, ``'lstm'`` or ``'gru'``.
        state_dict: PyTorch-style mapping with ``weight_ih_l{k}{sfx}`` (G*H, I or D*H_out),
            ``weight_hh_l{k}{sfx}`` (G*H, H_out), ``bias_ih_l{k}{sfx}`` / ``bias_hh_l{k}{sfx}`` (G*H,)
            when ``bias``, ``weight_hr_l{k}{sfx}`` (proj_size, H) when ``proj_size`` > 0;
            sfx ``''`` or ``'_reverse'``. Values: any array-like, torch tensors included.
        x: input (L, N, I), or (N, L, I) with ``batch_first``. Batched 3-D input only.
        hx: None (zeros), h0 (D*num_layers, N, H_out), or for LSTM a tuple (h0, c0) with
            c0 (D*num_layers, N, H). Never batch-first.
        num_layers, bidirectional, proj_size, nonlinearity, batch_first, bias: as in torch.
        lengths: None, or ints (N,) for packed semantics: torch's
            ``pack_padded_sequence(x, lengths, enforce_sorted=False)`` → layer → ``pad_packed_sequence``
            (output rows t >= lengths[b] are 0; the output here keeps all L steps).

    Returns:
        ``(output, h_n)``, or for LSTM ``(output, (h_n, c_n))``, float64: output (L, N, D*H_out)
        ((N, L, D*H_out) with ``batch_first``), forward direction in ``[..., :H_out]``; h_n
        (D*num_layers, N, H_out); c_n (D*num_layers, N, H). Index layer*D + direction.
    """
    _check_kind(kind, nonlinearity)
    if kind != "rnn" and nonlinearity != "tanh":
        raise ValueError("nonlinearity applies to RNN only")
    if kind != "lstm" and proj_size:
        raise ValueError("proj_size applies to LSTM only")
    sd = {k: to_f64(v) for k, v in state_dict.items()}
    x = to_f64(x)
    assert x.ndim == 3, f"batched 3-D input only, got shape {x.shape}"
    if batch_first:
        x = x.transpose(1, 0, 2)  # → (L, N, I)
    N = x.shape[1]
    D = 2 if bidirectional else 1
    H = sd["weight_hh_l0"].shape[0] // NUM_BLOCKS[kind]
    H_out = proj_size if proj_size > 0 else H

    if hx is None:
        h0 = np.zeros((D * num_layers, N, H_out))
        c0 = np.zeros((D * num_layers, N, H)) if kind == "lstm" else None
    elif kind == "lstm":
        h0, c0 = to_f64(hx[0]), to_f64(hx[1])
    else:
        h0, c0 = to_f64(hx), None
    assert h0.shape == (D * num_layers, N, H_out), f"h0 {h0.shape} != {(D * num_layers, N, H_out)}"
    assert c0 is None or c0.shape == (D * num_layers, N, H), f"c0 {c0.shape} != {(D * num_layers, N, H)}"

    expected_keys = set()
    h_n = np.zeros_like(h0)
    c_n = None if c0 is None else np.zeros_like(c0)
    layer_input = x
    for layer in range(num_layers):
        outputs = []
        for d in range(D):
            sfx = f"_l{layer}" + ("_reverse" if d == 1 else "")
            names = ["weight_ih", "weight_hh"] + (["bias_ih", "bias_hh"] if bias else [])
            names += ["weight_hr"] if proj_size > 0 else []
            expected_keys |= {name + sfx for name in names}
            p = {
                "w_ih": sd["weight_ih" + sfx],
                "w_hh": sd["weight_hh" + sfx],
                "b_ih": sd["bias_ih" + sfx] if bias else None,
                "b_hh": sd["bias_hh" + sfx] if bias else None,
                "w_hr": sd["weight_hr" + sfx] if proj_size > 0 else None,
            }
            assert p["w_ih"].shape[1] == layer_input.shape[2], (
                f"weight_ih{sfx} {p['w_ih'].shape} does not take {layer_input.shape[2]} input features")
            k = layer * D + d
            out, h, c = layer_forward(kind, layer_input, h0[k], None if c0 is None else c0[k], p,
                                      reverse=(d == 1), lengths=lengths, nonlinearity=nonlinearity)
            outputs.append(out)
            h_n[k] = h
            if c_n is not None:
                c_n[k] = c
        layer_input = np.concatenate(outputs, axis=2)  # (L, N, D*H_out): next layer's input
    unexpected = set(sd) - expected_keys
    assert not unexpected, f"state_dict has keys this configuration does not use: {sorted(unexpected)}"

    output = layer_input.transpose(1, 0, 2) if batch_first else layer_input
    output = np.ascontiguousarray(output)
    return (output, (h_n, c_n)) if kind == "lstm" else (output, h_n)
