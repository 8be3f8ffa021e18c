"""A slow, obviously correct float64 oracle: PyTorch's recurrent equations as a plain loop over time.

No Numba, no torch, no steprnn: NumPy only, written from the equations in PyTorch's docs.
Gate rows: LSTM i|f|g|o, GRU r|z|n.
"""
from __future__ import annotations

import numpy as np


def sigmoid(a: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-a))


def _f64(a):
    if a is None:
        return None
    if hasattr(a, "detach"):
        a = a.detach().cpu().numpy()
    return np.asarray(a, dtype=np.float64)


def cell_step(kind: str, x, h, c, p: dict, nonlinearity: str = "tanh"):
    """One step. x (N, I), h (N, H_out), c (N, H) or None → (h', c' or None, gates, pre).

    ``p``: ``w_ih`` (G*H, I), ``w_hh`` (G*H, H_out), ``b_ih``/``b_hh`` (G*H,) or None,
    ``w_hr`` (H_out, H) or None. ``gates``/``pre`` map gate names to (N, H) arrays
    (RNN: pre {'h': ...}, no gates; GRU pre also has 'hn' = W_hn h + b_hn).
    """
    w_ih, w_hh = p["w_ih"], p["w_hh"]
    b_ih = p.get("b_ih") if p.get("b_ih") is not None else np.zeros(w_ih.shape[0])
    b_hh = p.get("b_hh") if p.get("b_hh") is not None else np.zeros(w_hh.shape[0])
    gi = x @ w_ih.T + b_ih  # (N, G*H)
    gh = h @ w_hh.T + b_hh
    if kind == "rnn":
        a = gi + gh
        h_new = np.tanh(a) if nonlinearity == "tanh" else np.maximum(a, 0.0)
        return h_new, None, {}, {"h": a}
    H = w_hh.shape[0] // (4 if kind == "lstm" else 3)
    blk = lambda m, k: m[:, k * H:(k + 1) * H]  # noqa: E731
    if kind == "lstm":
        pre = {g: blk(gi, k) + blk(gh, k) for k, g in enumerate("ifgo")}
        i, f, g, o = sigmoid(pre["i"]), sigmoid(pre["f"]), np.tanh(pre["g"]), sigmoid(pre["o"])
        c_new = f * c + i * g
        h_new = o * np.tanh(c_new)
        if p.get("w_hr") is not None:
            h_new = h_new @ p["w_hr"].T
        return h_new, c_new, {"i": i, "f": f, "g": g, "o": o}, pre
    pre_r = blk(gi, 0) + blk(gh, 0)
    pre_z = blk(gi, 1) + blk(gh, 1)
    r, z = sigmoid(pre_r), sigmoid(pre_z)
    hn = blk(gh, 2)
    pre_n = blk(gi, 2) + r * hn
    n = np.tanh(pre_n)
    h_new = (1.0 - z) * n + z * h
    return h_new, None, {"r": r, "z": z, "n": n}, {"r": pre_r, "z": pre_z, "n": pre_n, "hn": hn}


def layer_forward(kind: str, x, h0, c0, p: dict, reverse: bool = False, lengths=None, nonlinearity: str = "tanh"):
    """One layer, one direction over time-major x (T, N, I) → (out (T, N, H_out), h_n, c_n or None).

    With ``lengths`` (N,), element b only takes steps t < lengths[b] (output 0 elsewhere, state
    carried), and in reverse runs from t = lengths[b] - 1 down to 0, as PyTorch's packed sequences.
    """
    x = _f64(x)
    T, N = x.shape[:2]
    lengths = np.full(N, T) if lengths is None else np.asarray(lengths)
    h = _f64(h0).copy()
    c = None if c0 is None else _f64(c0).copy()
    out = np.zeros((T, N, h.shape[1]))
    for t in (range(T - 1, -1, -1) if reverse else range(T)):
        live = lengths > t
        if not live.any():
            continue
        h_new, c_new, _, _ = cell_step(kind, x[t][live], h[live], None if c is None else c[live], p, nonlinearity)
        h[live] = h_new
        if c is not None:
            c[live] = c_new
        out[t][live] = h_new
    return out, h, c


def forward(kind: str, state_dict: dict, x, hx=None, num_layers: int = 1, bidirectional: bool = False,
            proj_size: int = 0, nonlinearity: str = "tanh", batch_first: bool = False, lengths=None):
    """A whole stacked (bidirectional) layer from a PyTorch-style state dict, no dropout.

    x (L, N, I) or (N, L, I) with batch_first; hx None, h0 (D*layers, N, H_out) or LSTM (h0, c0).
    Returns (output, h_n) or (output, (h_n, c_n)), float64, in PyTorch's layouts.
    """
    sd = {k: _f64(v) for k, v in state_dict.items()}
    x = _f64(x)
    if batch_first:
        x = x.transpose(1, 0, 2)
    T, N = x.shape[:2]
    D = 2 if bidirectional else 1
    H = sd["weight_hh_l0"].shape[0] // {"rnn": 1, "lstm": 4, "gru": 3}[kind]
    H_out = proj_size or H
    if hx is None:
        h0 = np.zeros((num_layers * D, N, H_out))
        c0 = np.zeros((num_layers * D, N, H)) if kind == "lstm" else None
    elif kind == "lstm":
        h0, c0 = _f64(hx[0]), _f64(hx[1])
    else:
        h0, c0 = _f64(hx), None
    h_n, c_n = np.zeros_like(h0), None if c0 is None else np.zeros_like(c0)
    layer_in = x
    for layer in range(num_layers):
        outs = []
        for d in range(D):
            sfx = f"_l{layer}" + ("_reverse" if d else "")
            p = {"w_ih": sd["weight_ih" + sfx], "w_hh": sd["weight_hh" + sfx], "b_ih": sd.get("bias_ih" + sfx),
                 "b_hh": sd.get("bias_hh" + sfx), "w_hr": sd.get("weight_hr" + sfx)}
            k = layer * D + d
            out, h, c = layer_forward(kind, layer_in, h0[k], None if c0 is None else c0[k], p, reverse=bool(d),
                                      lengths=lengths, nonlinearity=nonlinearity)
            outs.append(out)
            h_n[k] = h
            if c is not None:
                c_n[k] = c
        layer_in = np.concatenate(outs, axis=2)
    output = layer_in.transpose(1, 0, 2) if batch_first else layer_in
    return (output, (h_n, c_n)) if kind == "lstm" else (output, h_n)
