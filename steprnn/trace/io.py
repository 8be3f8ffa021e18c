"""Traces as ``.npz`` files: every array bit for bit, plus the metadata to rebuild the object."""
from __future__ import annotations

import json
from typing import Any

import numpy as np

from ..cell_kinds import KINDS, direction_key
from ..tensor import Tensor
from .trace import FORMAT_VERSION, Trace


def _result_arrays(name: str, value: Any) -> dict[str, np.ndarray]:
    if value is None:
        return {}
    if hasattr(value, "batch_sizes"):  # a PackedSequence
        out = {f"r__{name}.data": np.asarray(value.data), f"r__{name}.batch_sizes": np.asarray(value.batch_sizes)}
        for part in ("sorted_indices", "unsorted_indices"):
            if getattr(value, part) is not None:
                out[f"r__{name}.{part}"] = np.asarray(getattr(value, part))
        return out
    return {f"r__{name}": np.asarray(value)}


def save(trace: Trace, path: Any) -> None:
    payload = {f"a__{k}": v for k, v in trace.arrays.items()}
    for name in ("output", "h_n", "c_n"):
        payload.update(_result_arrays(name, getattr(trace, name)))
    payload["meta"] = np.frombuffer(json.dumps(trace.meta).encode("utf-8"), dtype=np.uint8)
    if hasattr(path, "write"):
        np.savez(path, **payload)
    else:
        with open(path, "wb") as f:  # np.savez(name) would append '.npz' to a name without it
            np.savez(f, **payload)


def _expected_keys(meta: dict) -> list[str]:
    kind = KINDS[meta["kind"]]
    names = ("h", "x", "h0", "w_ih", "w_hh") + kind.record_names + (("c0",) if kind.has_cell_state else ())
    return [direction_key(layer, d) + n for layer in meta["layers"] for d in range(meta["num_directions"])
            for n in names]


def _result(files: dict[str, np.ndarray], name: str) -> Any:
    if f"r__{name}" in files:
        return Tensor(files[f"r__{name}"])
    if f"r__{name}.data" in files:
        from ..nn.utils.rnn import PackedSequence

        get = lambda part: Tensor(files[f"r__{name}.{part}"]) if f"r__{name}.{part}" in files else None  # noqa: E731
        return PackedSequence(get("data"), get("batch_sizes"), get("sorted_indices"), get("unsorted_indices"))
    return None


_META_FIELDS = {"kind": str, "num_layers": int, "num_directions": int, "hidden_size": int, "seq_len": int,
                "layers": list, "batch": list, "lengths": list, "nonlinearity": str, "dtype": str}


def load(path: Any) -> Trace:
    where = repr(str(path))
    try:
        with np.load(path, allow_pickle=False) as z:
            names = list(z.files)
            files = {k: z[k] for k in names} if "meta" in names else None
    except FileNotFoundError:
        raise
    except Exception as err:  # noqa: BLE001 - zip, zlib, pickle and format errors all mean the same here
        raise ValueError(f"cannot read a steprnn trace from {where}: the file is truncated or not a trace "
                         f"({type(err).__name__}: {err})") from None
    if files is None:
        raise ValueError(f"{where} is not a steprnn trace: it has no 'meta' entry")
    try:
        meta = json.loads(files.pop("meta").tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{where} is not a steprnn trace: its metadata is unreadable ({err})") from None
    if not isinstance(meta, dict) or meta.get("format") != "steprnn-trace":
        raise ValueError(f"{where} is not a steprnn trace (format {meta.get('format') if isinstance(meta, dict) else meta!r})")
    if not isinstance(meta.get("version"), int) or meta["version"] > FORMAT_VERSION:
        raise ValueError(f"{where} was written by a newer steprnn (trace format {meta.get('version')}; "
                         f"this one reads up to {FORMAT_VERSION})")
    bad = [k for k, kind in _META_FIELDS.items() if not isinstance(meta.get(k), kind)]
    if bad:
        raise ValueError(f"{where} is damaged: its metadata lacks {', '.join(bad)}")
    if meta["kind"] not in KINDS:
        raise ValueError(f"{where} is damaged: unknown cell kind {meta['kind']!r} "
                         f"(expected one of {', '.join(KINDS)})")
    arrays = {k[3:]: v for k, v in files.items() if k.startswith("a__")}
    missing = [k for k in _expected_keys(meta) if k not in arrays]
    if missing:
        raise ValueError(f"{where} is incomplete: missing {', '.join(missing[:5])}{' …' if len(missing) > 5 else ''}")
    T, N = meta["seq_len"], len(meta["batch"])
    for key, a in arrays.items():
        if key.endswith((".gates", ".pre", ".h", ".x", ".c")) and a.shape[:2] != (T, N):
            raise ValueError(f"{where} is damaged: {key} has shape {a.shape}, expected ({T}, {N}, …)")
    return Trace(meta, arrays, _result(files, "output"), _result(files, "h_n"), _result(files, "c_n"))
