"""Traces as ``.npz`` files: every array bit for bit, plus the metadata to rebuild the object.

Loading trusts nothing in the file. Before any array is read, the zip directory and each
member's ``.npy`` header are checked: the metadata (bounded in size and nesting) must describe a
trace steprnn can show, every array must have exactly the shape and dtype the metadata implies,
and every member's declared size must be what its header says (so a small file that would
decompress to gigabytes is refused before it is decompressed). A refusal is a ValueError naming
the file and what is inconsistent.
"""
from __future__ import annotations

import json
import os
import zipfile
from typing import Any

import numpy as np

from ..memory import check_allocation, format_bytes
from ..tensor import Tensor
from .trace import FORMAT_VERSION, Trace

_MAX_META_BYTES = 16 << 20
_MAX_META_DEPTH = 16  # the metadata is a flat object of lists
_MAX_HEADER_BYTES = 65536
_MAX_SIZE = 1 << 48  # no dimension product in a real trace comes near this
_BOMB_RATIO = 100  # save() stores arrays uncompressed; a member this much smaller than its content is not ours
_KINDS = ("rnn", "lstm", "gru")
_GATE_ROWS = {"rnn": 1, "lstm": 4, "gru": 3}
_PRE_ROWS = {"rnn": 1, "lstm": 4, "gru": 4}  # GRU also keeps W_hn h + b_hn
_RESULT_KEYS = ("r__output", "r__h_n", "r__c_n", "r__output.data", "r__output.batch_sizes",
                "r__output.sorted_indices", "r__output.unsorted_indices")


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


class _Damaged(ValueError):
    """A refusal whose message is completed with the file's name."""


# -- metadata -----------------------------------------------------------------------------------

def _int(meta: dict, name: str, low: int, high: int = _MAX_SIZE) -> int:
    v = meta.get(name)
    if isinstance(v, bool) or not isinstance(v, int):
        raise _Damaged(f"its metadata field {name!r} must be an integer, got {v!r}")
    if not low <= v <= high:
        raise _Damaged(f"its metadata field {name!r} must lie in {low}..{high}, got {v}")
    return v


def _int_list(meta: dict, name: str, low: int, high: int) -> list[int]:
    v = meta.get(name)
    if not isinstance(v, list) or any(isinstance(i, bool) or not isinstance(i, int) for i in v):
        raise _Damaged(f"its metadata field {name!r} must be a list of integers, got {str(v)[:80]}")
    bad = [i for i in v if not low <= i <= high]
    if bad:
        raise _Damaged(f"its metadata field {name!r} must hold integers in {low}..{high}, got {bad[:5]}")
    return v


def _choice(meta: dict, name: str, allowed: tuple) -> Any:
    v = meta.get(name)
    if isinstance(v, bool) != isinstance(allowed[0], bool) or v not in allowed:
        raise _Damaged(f"its metadata field {name!r} must be one of {', '.join(map(repr, allowed))}, got {v!r}")
    return v


def _check_meta(meta: Any) -> None:
    """The metadata of a trace steprnn can show, or _Damaged saying which field is wrong."""
    if not isinstance(meta, dict) or meta.get("format") != "steprnn-trace":
        fmt = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
        raise _Damaged(f"it is not a steprnn trace (format {fmt!r})")
    version = meta.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise _Damaged(f"its metadata field 'version' must be a positive integer, got {version!r}")
    if version > FORMAT_VERSION:
        raise _Damaged(f"it was written by a newer steprnn (trace format {version}; this one reads up to "
                       f"{FORMAT_VERSION})")
    kind = _choice(meta, "kind", _KINDS)
    cell = _choice(meta, "cell", (False, True))
    _choice(meta, "bias", (False, True))
    _choice(meta, "batch_first", (False, True))
    _choice(meta, "nonlinearity", ("tanh", "relu"))
    _choice(meta, "dtype", ("float32", "float64"))
    if not isinstance(meta.get("module"), str):
        raise _Damaged(f"its metadata field 'module' must be a string, got {meta.get('module')!r}")
    num_layers = _int(meta, "num_layers", 1, 1 if cell else 100_000)
    _int(meta, "num_directions", 1, 1 if cell else 2)
    hidden = _int(meta, "hidden_size", 1)
    _int(meta, "input_size", 1)
    _int(meta, "proj_size", 0, hidden - 1 if kind == "lstm" else 0)
    T = _int(meta, "seq_len", 1, 1 if cell else _MAX_SIZE)
    layers = _int_list(meta, "layers", 0, num_layers - 1)
    if not layers or len(set(layers)) != len(layers):
        raise _Damaged(f"its metadata field 'layers' must name each recorded layer once, got {layers[:8]}")
    batch = _int_list(meta, "batch", 0, _MAX_SIZE)
    if len(set(batch)) != len(batch):
        raise _Damaged("its metadata field 'batch' names a batch element twice")
    lengths = _int_list(meta, "lengths", 1, T)
    if len(lengths) != len(batch):
        raise _Damaged(f"its metadata lists {len(lengths)} lengths for {len(batch)} batch elements")


def _expected_arrays(meta: dict) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """Every array the metadata implies: key → (shape, dtype)."""
    kind, H, D = meta["kind"], meta["hidden_size"], meta["num_directions"]
    P = meta["proj_size"] or H
    T, n = meta["seq_len"], len(meta["batch"])
    G, Gp = _GATE_ROWS[kind] * H, _PRE_ROWS[kind] * H
    dtype = np.dtype(meta["dtype"])
    out = {}
    for layer in meta["layers"]:
        I_l = meta["input_size"] if layer == 0 else D * P
        for d in range(D):
            k = f"l{layer}d{d}."
            shapes = {"pre": (T, n, Gp), "h": (T, n, P), "x": (T, n, I_l), "h0": (n, P),
                      "w_ih": (G, I_l), "w_hh": (G, P)}
            if kind != "rnn":
                shapes["gates"] = (T, n, G)
            if kind == "lstm":
                shapes.update(c=(T, n, H), c0=(n, H))
            if meta["bias"]:
                shapes.update(b_ih=(G,), b_hh=(G,))
            if meta["proj_size"]:
                shapes["w_hr"] = (P, H)
            out.update({k + name: (shape, dtype) for name, shape in shapes.items()})
    return out


# -- the zip members ----------------------------------------------------------------------------

def _header(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> tuple[tuple[int, ...], bool, np.dtype, int]:
    """(shape, fortran_order, dtype, header length) of an .npy member, reading only its header."""
    with zf.open(info) as f:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(f, max_header_size=_MAX_HEADER_BYTES)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(f, max_header_size=_MAX_HEADER_BYTES)
        else:
            raise _Damaged(f"its member {info.filename!r} is in .npy format {version}, not 1.0 or 2.0")
        return shape, fortran, dtype, f.tell()


def _read(zf: zipfile.ZipFile, info: zipfile.ZipInfo, header: tuple) -> np.ndarray:
    """The array of a member whose header and declared size were checked."""
    shape, fortran, dtype, skip = header
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    with zf.open(info) as f:
        f.read(skip)
        raw = f.read(nbytes)
        if len(raw) != nbytes or f.read(1):
            raise _Damaged(f"its member {info.filename!r} holds {len(raw)} bytes of data, expected {nbytes}")
    array = np.frombuffer(bytearray(raw), dtype=dtype)
    return array.reshape(shape[::-1]).T if fortran else array.reshape(shape)


def _nesting(raw: np.ndarray) -> int:
    """The deepest nesting of JSON arrays/objects in ``raw`` (uint8), without parsing it."""
    step = np.isin(raw, (91, 123)).astype(np.int64) - np.isin(raw, (93, 125)).astype(np.int64)  # [{ minus ]}
    return int(np.cumsum(step).max(initial=0))


def _read_meta(zf: zipfile.ZipFile, infos: dict) -> dict:
    info = infos.get("meta")
    if info is None:
        raise _Damaged("it is not a steprnn trace: it has no 'meta' entry")
    if info.file_size > _MAX_META_BYTES:
        raise _Damaged(f"it is not a steprnn trace: its metadata declares {format_bytes(info.file_size)} "
                       f"(at most {format_bytes(_MAX_META_BYTES)})")
    header = _header(zf, info)
    shape, _, dtype, _ = header
    if dtype != np.uint8 or len(shape) != 1 or info.file_size != header[3] + shape[0]:
        raise _Damaged(f"it is not a steprnn trace: its 'meta' entry is a {dtype} array of shape {shape}")
    raw = _read(zf, info, header)
    if _nesting(raw) > _MAX_META_DEPTH:
        raise _Damaged(f"it is not a steprnn trace: its metadata is nested more than {_MAX_META_DEPTH} levels deep")
    try:
        return json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as err:
        raise _Damaged(f"it is not a steprnn trace: its metadata is unreadable ({type(err).__name__}: "
                       f"{str(err)[:100]})") from None


def _result_width(meta: dict) -> tuple[int, int, int]:
    """(output width, h_n width, c_n width) of what the layer or cell returned."""
    H, P = meta["hidden_size"], meta["proj_size"] or meta["hidden_size"]
    return (H, H, H) if meta["cell"] else (meta["num_directions"] * P, P, H)


def _batch_of_result(meta: dict, name: str, shape: tuple[int, ...]) -> int:
    """The full batch size N a returned array implies (1 for unbatched), or _Damaged."""
    T, LD = meta["seq_len"], meta["num_layers"] * meta["num_directions"]
    w_out, w_h, w_c = _result_width(meta)
    width = {"output": w_out, "h_n": w_h, "c_n": w_c}[name]
    if meta["cell"]:
        if len(shape) == 1 and shape == (width,):
            return 1
        if len(shape) == 2 and shape[1] == width:
            return shape[0]
        raise _Damaged(f"its {name} has shape {shape}, expected (N, {width}) or ({width},)")
    if name == "output":
        if len(shape) == 2 and shape == (T, width):
            return 1
        t_axis = 1 if meta["batch_first"] else 0
        if len(shape) == 3 and shape[t_axis] == T and shape[2] == width:
            return shape[1 - t_axis]
        want = "(N, L, W)" if meta["batch_first"] else "(L, N, W)"
        raise _Damaged(f"its output has shape {shape}, expected {want} with L={T}, W={width}, or ({T}, {width})")
    if len(shape) == 2 and shape == (LD, width):
        return 1
    if len(shape) == 3 and shape[0] == LD and shape[2] == width:
        return shape[1]
    raise _Damaged(f"its {name} has shape {shape}, expected ({LD}, N, {width}) or ({LD}, {width})")


def _check_results(meta: dict, headers: dict) -> None:
    """The returned arrays (output, h_n, c_n) agree with the metadata and with each other."""
    dtype = np.dtype(meta["dtype"])
    batches = []
    for key, (shape, _, dt, _) in headers.items():
        if not key.startswith("r__"):
            continue
        part = key[3:]
        if part.endswith(("batch_sizes", "sorted_indices", "unsorted_indices")):
            if dt.kind not in "iu" or len(shape) != 1:
                raise _Damaged(f"its {part} must be a 1-D integer array, got a {dt} array of shape {shape}")
            continue
        if dt != dtype:
            raise _Damaged(f"its {part} is {dt}, expected {dtype} as the metadata says")
        if part == "output.data":
            if len(shape) != 2 or shape[1] != _result_width(meta)[0]:
                raise _Damaged(f"its packed output data has shape {shape}, expected (S, {_result_width(meta)[0]})")
            continue
        if part == "c_n" and meta["kind"] != "lstm":
            raise _Damaged(f"it holds a c_n, but a {meta['kind']} has no cell state")
        batches.append((part, _batch_of_result(meta, part, shape)))
    if "r__output.data" in headers and "r__output.batch_sizes" not in headers:
        raise _Damaged("its packed output has data but no batch_sizes")
    if "r__output.batch_sizes" in headers:
        if headers["r__output.batch_sizes"][0] != (meta["seq_len"],):
            raise _Damaged(f"its packed output has {headers['r__output.batch_sizes'][0]} batch_sizes, "
                           f"expected ({meta['seq_len']},): one per step")
    sizes = {n for _, n in batches}
    if len(sizes) > 1:
        raise _Damaged("its returned arrays disagree on the batch size: "
                       + ", ".join(f"{part} has {n}" for part, n in batches))
    if sizes and meta["batch"] and max(meta["batch"]) >= sizes.pop():
        raise _Damaged(f"its metadata records batch element {max(meta['batch'])}, beyond the batch of its results")


def load(path: Any) -> Trace:
    """A Trace from a file written by ``save``; ValueError naming the file and what is wrong otherwise."""
    where = repr(os.fspath(path)) if isinstance(path, (str, os.PathLike)) else repr(getattr(path, "name", "<file>"))
    try:
        return _load(path, where)
    except _Damaged as err:
        raise ValueError(f"cannot load the trace {where}: {err}") from None
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError, KeyError,
            NotImplementedError, RuntimeError) as err:
        if isinstance(err, (FileNotFoundError, PermissionError, IsADirectoryError)) \
                or type(err).__name__ == "OutOfMemoryError":
            raise
        raise ValueError(f"cannot read a steprnn trace from {where}: the file is truncated or not a trace "
                         f"({type(err).__name__}: {str(err)[:200]})") from None


def _load(path: Any, where: str) -> Trace:
    with zipfile.ZipFile(path) as zf:
        infos: dict[str, zipfile.ZipInfo] = {}
        for info in zf.infolist():
            if not info.filename.endswith(".npy"):
                raise _Damaged(f"it is not a steprnn trace: member {info.filename!r} is not an .npy array")
            name = info.filename[:-4]
            if name in infos:
                raise _Damaged(f"it holds the member {info.filename!r} twice")
            infos[name] = info
        meta = _read_meta(zf, infos)
        _check_meta(meta)
        expected = _expected_arrays(meta)
        present = {k[3:] for k in infos if k.startswith("a__")}
        missing = [k for k in expected if k not in present]
        if missing:
            raise _Damaged(f"it is incomplete: missing {', '.join(missing[:5])}{' …' if len(missing) > 5 else ''}")
        unknown = sorted(k for k in infos if k != "meta" and k not in _RESULT_KEYS
                         and not (k.startswith("a__") and k[3:] in expected))
        if unknown:
            raise _Damaged(f"it holds members a {meta['kind']} trace of these layers does not have: "
                           f"{', '.join(unknown[:5])}")
        # headers only: shapes, dtypes and declared sizes, before any array is read
        headers = {}
        total = 0
        for key, info in infos.items():
            if key == "meta":
                continue
            if info.compress_type != zipfile.ZIP_STORED and info.file_size > (1 << 20) \
                    and info.file_size > _BOMB_RATIO * max(info.compress_size, 1):
                raise _Damaged(f"its member {key!r} would decompress from {format_bytes(info.compress_size)} to "
                               f"{format_bytes(info.file_size)}; steprnn writes traces uncompressed")
            header = _header(zf, info)
            shape, _, dtype, skip = header
            if dtype.hasobject or dtype.kind not in "biuf":
                raise _Damaged(f"its member {key!r} holds {dtype} values, not numbers")
            if key.startswith("a__"):
                want_shape, want_dtype = expected[key[3:]]
                if shape != want_shape or dtype != want_dtype:
                    raise _Damaged(f"{key[3:]} has shape {shape} and dtype {dtype}, but the metadata ({meta['kind']}, "
                                   f"hidden_size {meta['hidden_size']}, {meta['seq_len']} steps, "
                                   f"{len(meta['batch'])} batch elements) implies {want_shape} {want_dtype}")
            nbytes = int(np.prod(shape, dtype=np.float64)) * dtype.itemsize
            if nbytes > _MAX_SIZE or info.file_size != skip + nbytes:
                raise _Damaged(f"its member {key!r} declares {info.file_size} bytes, but its header "
                               f"({dtype} {shape}) implies {skip + nbytes}")
            headers[key] = header
            total += nbytes
        _check_results(meta, headers)
        check_allocation(total, f"loading the trace {where} ({len(headers)} arrays)")
        files = {key: _read(zf, infos[key], header) for key, header in headers.items()}
    arrays = {k[3:]: v for k, v in files.items() if k.startswith("a__")}
    output = _result(files, "output")
    if "r__output.batch_sizes" in files:
        from ..nn.utils.rnn import check_packed

        try:
            check_packed(output, "the trace's packed output")
        except (TypeError, ValueError) as err:
            raise _Damaged(f"its packed output is inconsistent: {err}") from None
    return Trace(meta, arrays, output, _result(files, "h_n"), _result(files, "c_n"))


def _result(files: dict[str, np.ndarray], name: str) -> Any:
    if f"r__{name}" in files:
        return Tensor(files[f"r__{name}"])
    if f"r__{name}.data" in files:
        from ..nn.utils.rnn import PackedSequence

        get = lambda part: Tensor(files[f"r__{name}.{part}"]) if f"r__{name}.{part}" in files else None  # noqa: E731
        return PackedSequence(get("data"), get("batch_sizes"), get("sorted_indices"), get("unsorted_indices"))
    return None
