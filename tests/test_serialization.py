"""sr.save / sr.load: round trips, whole models, torch files, and refusals (unsafe, truncated, foreign)."""
from __future__ import annotations

import collections
import io
import os
import pickle
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import steprnn as sr
import steprnn.nn as nn
from steprnn import serialization

DTYPES = [np.float32, np.float64, np.int64, np.int32, np.uint8, np.bool_, np.float16]


def round_trip(obj, **load_kw):
    buf = io.BytesIO()
    sr.save(obj, buf)
    buf.seek(0)
    return sr.load(buf, **load_kw)


@given(array=hnp.arrays(st.sampled_from(DTYPES), hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=5)),
       requires_grad=st.booleans())
def test_tensors_and_arrays_round_trip_bit_for_bit(array, requires_grad):
    t = sr.tensor(array)
    if requires_grad and array.dtype.kind == "f":
        t.requires_grad_(True)
    back = round_trip({"t": t, "a": array, "n": array.dtype.type(0) if array.size == 0 else array.flat[0]})
    assert type(back["t"]) is sr.Tensor and type(back["a"]) is np.ndarray
    for got in (back["t"].detach().numpy(), back["a"]):
        assert got.dtype == array.dtype and got.shape == array.shape
        assert np.array_equal(got, array, equal_nan=True)
    assert back["t"].requires_grad == t.requires_grad
    assert back["n"].dtype == array.dtype


def test_nested_containers_keep_their_types():
    obj = collections.OrderedDict(
        a=[1, 2.5, "x", None, True, (3, sr.tensor([1.0, 2.0]))],
        b={"c": {1, 2}, "d": frozenset({3}), "e": b"bytes", "f": complex(1, 2)},
        p=nn.Parameter(np.ones((2, 2))),
    )
    back = round_trip(obj)
    assert type(back) is collections.OrderedDict and list(back) == ["a", "b", "p"]
    assert back["a"][:5] == [1, 2.5, "x", None, True]
    assert isinstance(back["a"][5], tuple) and np.array_equal(back["a"][5][1].numpy(), [1.0, 2.0])
    assert back["b"] == {"c": {1, 2}, "d": frozenset({3}), "e": b"bytes", "f": complex(1, 2)}
    assert type(back["p"]) is nn.Parameter and back["p"].requires_grad


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_state_dict_round_trip_through_a_path_restores_the_layer(kind, tmp_path):
    sr.manual_seed(0)
    layer = getattr(nn, kind)(3, 5, num_layers=2, bidirectional=True)
    path = tmp_path / "weights.pt"
    sr.save(layer.state_dict(), path)
    sr.manual_seed(1)
    other = getattr(nn, kind)(3, 5, num_layers=2, bidirectional=True)
    other.load_state_dict(sr.load(path))
    for k, v in layer.state_dict().items():
        assert np.array_equal(np.asarray(other.state_dict()[k]), np.asarray(v)), k
    sr.save(layer.state_dict(), str(path))  # str paths too, overwriting
    assert set(sr.load(str(path))) == set(layer.state_dict())


class Tagger(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(4, 6, batch_first=True)
        self.out = nn.Linear(6, 4)
        self.tied = self.out.weight

    def forward(self, x):
        return self.out(self.lstm(x)[0])


def test_whole_models_need_weights_only_false_and_come_back_working(tmp_path):
    sr.manual_seed(3)
    model = Tagger()
    path = tmp_path / "model.pt"
    sr.save(model, path)
    with pytest.raises(pickle.UnpicklingError) as err:
        sr.load(path)
    assert str(path) in str(err.value) and "weights_only=False" in str(err.value) and "Tagger" in str(err.value)
    back = sr.load(path, weights_only=False)
    assert type(back) is Tagger and back.tied is back.out.weight  # shared parameters stay shared
    x = np.random.default_rng(0).standard_normal((2, 5, 4)).astype(np.float32)
    assert np.array_equal(back(x).detach().numpy(), model(x).detach().numpy())


def test_add_safe_globals_lets_a_named_class_through():
    Point = collections.namedtuple("Point", "x y")
    globals()["Point"] = Point
    Point.__module__ = __name__
    with pytest.raises(pickle.UnpicklingError, match="Point"):
        round_trip({"p": Point(1, 2)})
    serialization.add_safe_globals([Point])
    try:
        assert round_trip({"p": Point(1, 2)})["p"] == Point(1, 2)
        assert Point in serialization.get_safe_globals()
    finally:
        serialization._USER_SAFE.clear()


class Boom:
    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


class ObjectArray:
    def __reduce__(self):
        return serialization._rebuild_tensor, ("array", "|O", (1,), b"\0" * 8, False, "cpu")


def test_malicious_pickles_are_not_executed(tmp_path, monkeypatch):
    path = tmp_path / "evil.pt"
    sr.save({"x": Boom()}, path)
    calls = []
    monkeypatch.setattr(os, "system", lambda cmd: calls.append(cmd))
    with pytest.raises(pickle.UnpicklingError, match="posix.system|os.system"):
        sr.load(path)
    assert calls == []
    # a hand-made payload asking for an object array (NumPy would unpickle objects with it) is refused
    payload = pickle.dumps(ObjectArray())
    evil = serialization._HEAD.pack(serialization.MAGIC, serialization.VERSION, len(payload),
                                    zlib.crc32(payload)) + payload
    path.write_bytes(evil)
    with pytest.raises(pickle.UnpicklingError, match="only booleans and numbers"):
        sr.load(path)


def test_truncated_damaged_and_foreign_files_are_refused_naming_the_file(tmp_path):
    path = tmp_path / "w.pt"
    sr.save({"w": sr.tensor(np.arange(100.0))}, path)
    data = path.read_bytes()
    cut = tmp_path / "cut.pt"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(RuntimeError, match=f"{cut}.*truncated"):
        sr.load(cut)
    cut.write_bytes(data[:10])
    with pytest.raises(RuntimeError, match="truncated"):
        sr.load(cut)
    foreign = tmp_path / "notes.txt"
    foreign.write_text("hello, these are not weights")
    with pytest.raises(RuntimeError, match=f"{foreign} is not a file written by steprnn.save or torch.save"):
        sr.load(foreign)
    npz = tmp_path / "a.npz"
    np.savez(npz, a=np.ones(3))
    with pytest.raises(RuntimeError, match="not a torch.save file"):
        sr.load(npz)
    damaged = bytearray(data)
    damaged[serialization._HEAD.size + 5: serialization._HEAD.size + 40] = b"\xff" * 35
    bad = tmp_path / "bad.pt"
    bad.write_bytes(bytes(damaged))
    with pytest.raises(RuntimeError, match=f"{bad} is damaged: its checksum"):
        sr.load(bad)
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        sr.load(tmp_path / "missing.pt")


@pytest.mark.parametrize("weights_only", [True, False])
def test_torch_saved_state_dicts_load_without_torch_machinery(weights_only, tmp_path):
    torch.manual_seed(0)
    t_lstm = torch.nn.LSTM(3, 4, num_layers=2, proj_size=2)
    path = tmp_path / "torch.pt"
    torch.save({"model": t_lstm.state_dict(), "epoch": 7, "ints": torch.arange(5), "view": torch.ones(4, 6)[:, 1:3]},
               path)
    back = sr.load(path, weights_only=weights_only)
    assert back["epoch"] == 7 and np.array_equal(back["ints"].numpy(), np.arange(5))
    assert np.array_equal(back["view"].numpy(), np.ones((4, 2), dtype=np.float32))
    ours = nn.LSTM(3, 4, num_layers=2, proj_size=2)
    ours.load_state_dict(back["model"])
    x = np.random.default_rng(1).standard_normal((5, 2, 3)).astype(np.float32)
    np.testing.assert_allclose(ours(x)[0].detach().numpy(), t_lstm(torch.from_numpy(x))[0].detach().numpy(),
                               atol=1e-6, rtol=0)


def test_torch_saved_whole_models_are_refused_by_default(tmp_path):
    path = tmp_path / "torch_model.pt"
    torch.save(torch.nn.GRU(2, 3), path)
    with pytest.raises(pickle.UnpicklingError, match="torch.nn.modules.rnn.GRU"):
        sr.load(path)


def test_map_location_forms_and_file_objects(tmp_path):
    state = {"w": sr.tensor(np.arange(6.0).reshape(2, 3))}
    path = Path(tmp_path) / "m.pt"
    with open(path, "wb") as fh:
        sr.save(state, fh)
    for loc in (None, "cpu", sr.device("cpu"), {"cpu": "cpu"}, lambda storage, location: storage):
        with open(path, "rb") as fh:
            assert np.array_equal(sr.load(fh, map_location=loc)["w"].numpy(), state["w"].numpy())
    with pytest.raises(TypeError, match="text mode"):
        with open(path, encoding="latin-1") as fh:
            sr.load(fh)
    with pytest.raises(TypeError, match="path or a binary file"):
        sr.save(state, 3)
