"""What the figures read from a Trace: one batch element's (L, H) series, tokens, checks."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..trace.trace import Trace
from . import style


def check_trace(trace: Any, what: str = "trace") -> Trace:
    if not isinstance(trace, Trace):
        raise TypeError(f"{what} must be a steprnn Trace (from sr.trace or sr.tracing), got {type(trace).__name__}")
    return trace


def batch_position(trace: Trace, batch: int) -> int:
    """Where batch element ``batch`` (input order) sits in the trace's arrays."""
    if isinstance(batch, bool) or not isinstance(batch, (int, np.integer)):
        raise TypeError(f"batch must be an int (a batch element in input order), got {batch!r}")
    if int(batch) not in trace.batch:
        raise ValueError(f"batch element {batch} was not recorded (this trace holds {list(trace.batch)})")
    return trace.batch.index(int(batch))


def names(trace: Trace) -> list[str]:
    """The quantities a trace figure shows, grouped by scale: σ gates, then tanh-valued ones."""
    if trace.kind == "rnn":
        return ["pre", "h"]
    sig = [g for g in trace.gate_names if style.scale_of(g) == "sigmoid"]
    tanh = [g for g in trace.gate_names if style.scale_of(g) == "tanh"]
    return sig + tanh + (["c"] if trace.kind == "lstm" else []) + ["h"]


def valid_names(trace: Trace) -> tuple[str, ...]:
    return tuple(trace.gate_names) + (("c",) if trace.kind == "lstm" else ()) + ("h", "pre")


def series(trace: Trace, name: str, layer: int = 0, direction: int = 0, batch: int = 0) -> np.ndarray:
    """(L, H) the values of ``name`` for one batch element, as drawn (``'c'`` through tanh).

    ``name`` is a gate of the trace, ``'c'`` (LSTM: drawn as tanh(c)), ``'h'``, or ``'pre'`` (an
    RNN's pre-activation; for an LSTM/GRU ``'pre'`` is not a single quantity: name ``'pre_f'``...).
    """
    trace = check_trace(trace)
    pos = batch_position(trace, batch)
    if name in trace.gate_names:
        a = trace.gate(name, layer, direction)
    elif name == "c":
        a = np.tanh(trace.c(layer, direction))
    elif name == "h":
        a = trace.h(layer, direction)
    elif name == "pre" and trace.kind == "rnn":
        a = trace.preactivation("h", layer, direction)
    elif name.startswith("pre_") and name[4:] in trace.gate_names:
        a = trace.preactivation(name[4:], layer, direction)
    else:
        have = ", ".join(repr(n) for n in valid_names(trace) if not (n == "pre" and trace.kind != "rnn"))
        raise ValueError(f"unknown quantity {name!r} for a {trace.kind.upper()} trace: expected one of {have}")
    return np.asarray(a[:, pos], dtype=np.float64)


def scale_of(name: str) -> str:
    return "pre" if name.startswith("pre") else style.scale_of(name)


def title_of(name: str) -> str:
    if name.startswith("pre_"):
        return f"pre-activation of {name[4:]}"
    return style.GATE_TITLES.get(name, name)


def check_tokens(tokens: Sequence[Any] | str | None, length: int) -> list[str] | None:
    """Tokens as a list of ``length`` strings (a string is one token per character), or None."""
    if tokens is None:
        return None
    if isinstance(tokens, str):
        tokens = list(tokens)
    try:
        tokens = [str(t) for t in tokens]
    except TypeError:
        raise TypeError(f"tokens must be a string or a sequence of tokens, got {type(tokens).__name__}") from None
    if len(tokens) != length:
        raise ValueError(f"tokens must have one entry per step: expected {length}, got {len(tokens)}")
    return tokens


def visible_token(t: str) -> str:
    """A token as a tick label: blanks and newlines made visible."""
    return {" ": "␣", "\n": "↵", "\t": "⇥", "": "∅"}.get(t, t)


def direction_name(trace: Trace, direction: int) -> str:
    return "reverse" if direction == 1 else ("forward" if trace.num_directions == 2 else "")


def where(trace: Trace, layer: int, direction: int, batch: int) -> str:
    """'LSTM · layer 1 · reverse · batch element 0 (length 5 of 7)'."""
    parts = [trace.kind.upper()]
    if trace.num_layers > 1:
        parts.append(f"layer {layer}")
    d = direction_name(trace, direction)
    if d:
        parts.append(d)
    pos = batch_position(trace, batch)
    n = int(trace.lengths[pos])
    L = trace.seq_len
    b = f"batch element {batch}" if len(trace.batch) > 1 or batch else ""
    if n < L:
        b = (b + f" (length {n} of {L})").strip()
    if b:
        parts.append(b)
    return " · ".join(parts)
