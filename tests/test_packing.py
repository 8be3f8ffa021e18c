"""steprnn.nn.utils.rnn against torch.nn.utils.rnn: values, batch sizes, permutations, bad input."""
from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
import torch.nn.utils.rnn as trnn
from hypothesis import given
from hypothesis import strategies as st

import steprnn as sr
from steprnn.nn.utils.rnn import (
    PackedSequence,
    invert_permutation,
    pack_padded_sequence,
    pack_sequence,
    pad_packed_sequence,
    pad_sequence,
    unpack_sequence,
    unpad_sequence,
)
from steprnn.tensor import Tensor, to_numpy

DTYPES = [np.float32, np.float64]


# --------------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------------

def same(ours, theirs, what="value"):
    """Bitwise equal values, same dtype and shape (NaN equal to NaN)."""
    a = to_numpy(ours)
    b = theirs.numpy() if isinstance(theirs, torch.Tensor) else np.asarray(theirs)
    assert a.dtype == b.dtype, f"{what}: dtype {a.dtype} != {b.dtype}"
    assert a.shape == b.shape, f"{what}: shape {a.shape} != {b.shape}"
    np.testing.assert_array_equal(a, b, err_msg=what)


def same_packed(ours, theirs):
    assert isinstance(ours, PackedSequence)
    assert isinstance(ours.data, Tensor) and isinstance(ours.batch_sizes, Tensor)
    same(ours.data, theirs.data, "data")
    same(ours.batch_sizes, theirs.batch_sizes, "batch_sizes")
    for name in ("sorted_indices", "unsorted_indices"):
        mine, ref = getattr(ours, name), getattr(theirs, name)
        assert (mine is None) == (ref is None), f"{name}: {mine} vs {ref}"
        if ref is not None:
            assert isinstance(mine, Tensor)
            same(mine, ref, name)


def stable_order(lengths):
    return np.argsort(-np.asarray(lengths), kind="stable")


def torch_pack_reference(x, lengths, batch_first, enforce_sorted):
    """torch's packing, with ties sorted stably (torch.sort's tie order is unspecified for big batches)."""
    t_x = torch.from_numpy(x)
    if enforce_sorted:
        return trnn.pack_padded_sequence(t_x, torch.tensor(lengths), batch_first=batch_first)
    own = trnn.pack_padded_sequence(t_x, torch.tensor(lengths), batch_first=batch_first, enforce_sorted=False)
    order = torch.from_numpy(stable_order(lengths))
    if torch.equal(own.sorted_indices, order):
        return own
    batch_dim = 0 if batch_first else 1
    data, batch_sizes = torch._VF._pack_padded_sequence(
        t_x.index_select(batch_dim, order), torch.tensor(lengths)[order], batch_first)
    return trnn.PackedSequence(data, batch_sizes, order, None)


@st.composite
def padded_batches(draw, min_batch=1, max_batch=24):
    B = draw(st.integers(min_batch, max_batch))
    lengths = draw(st.lists(st.integers(1, 7), min_size=B, max_size=B))
    enforce_sorted = draw(st.booleans())
    if enforce_sorted:
        lengths = sorted(lengths, reverse=True)
    T = max(lengths) + draw(st.integers(0, 2))
    feat = tuple(draw(st.lists(st.integers(1, 3), min_size=0, max_size=2)))
    dtype = draw(st.sampled_from(DTYPES))
    batch_first = draw(st.booleans())
    seed = draw(st.integers(0, 2**31 - 1))
    shape = (B, T) + feat if batch_first else (T, B) + feat
    x = np.random.default_rng(seed).standard_normal(shape).astype(dtype)
    return dict(x=x, lengths=lengths, enforce_sorted=enforce_sorted, batch_first=batch_first, feat=feat)


def random_sequences(seed, lengths, feat, dtype):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((n,) + feat).astype(dtype) for n in lengths]


# --------------------------------------------------------------------------------------------------
# parity with torch, property based
# --------------------------------------------------------------------------------------------------

@given(padded_batches(), st.sampled_from(["numpy", "tensor", "torch"]), st.sampled_from(["list", "numpy", "tensor", "torch"]))
def test_pack_padded_sequence_matches_torch(cfg, input_kind, lengths_kind):
    x, lengths = cfg["x"], cfg["lengths"]
    x_before = x.copy()
    lengths_np = np.array(lengths, dtype=np.int64)
    inp = {"numpy": x, "tensor": Tensor(x), "torch": torch.from_numpy(x)}[input_kind]
    lens = {"list": list(lengths), "numpy": lengths_np, "tensor": Tensor(lengths_np),
            "torch": torch.from_numpy(lengths_np)}[lengths_kind]
    ours = pack_padded_sequence(inp, lens, batch_first=cfg["batch_first"], enforce_sorted=cfg["enforce_sorted"])
    ref = torch_pack_reference(x, lengths, cfg["batch_first"], cfg["enforce_sorted"])
    same_packed(ours, ref)
    assert ours.data.shape == (sum(lengths),) + cfg["feat"]
    np.testing.assert_array_equal(x, x_before)  # input untouched
    np.testing.assert_array_equal(lengths_np, np.array(lengths))
    assert not np.shares_memory(to_numpy(ours.data), x)


@given(padded_batches(), st.sampled_from([None, 0, 3]), st.sampled_from([0.0, -1.5, float("nan")]), st.booleans())
def test_pad_packed_sequence_matches_torch(cfg, extra_length, padding_value, out_batch_first):
    x, lengths = cfg["x"], cfg["lengths"]
    bf = cfg["batch_first"]
    ours_packed = pack_padded_sequence(x, lengths, batch_first=bf, enforce_sorted=cfg["enforce_sorted"])
    ref_packed = trnn.pack_padded_sequence(torch.from_numpy(x), torch.tensor(lengths), batch_first=bf,
                                           enforce_sorted=cfg["enforce_sorted"])
    total_length = None if extra_length is None else max(lengths) + extra_length
    packed_data_before = to_numpy(ours_packed.data).copy()
    padded, lens = pad_packed_sequence(ours_packed, batch_first=out_batch_first, padding_value=padding_value,
                                       total_length=total_length)
    t_padded, t_lens = trnn.pad_packed_sequence(ref_packed, batch_first=out_batch_first,
                                                padding_value=padding_value, total_length=total_length)
    assert isinstance(padded, Tensor) and isinstance(lens, Tensor)
    same(padded, t_padded, "padded")
    same(lens, t_lens, "lengths")
    np.testing.assert_array_equal(to_numpy(ours_packed.data), packed_data_before)
    assert not np.shares_memory(to_numpy(padded), to_numpy(ours_packed.data))


@given(padded_batches())
def test_round_trip_restores_the_padded_input(cfg):
    x, lengths, bf = cfg["x"], cfg["lengths"], cfg["batch_first"]
    packed = pack_padded_sequence(x, lengths, batch_first=bf, enforce_sorted=cfg["enforce_sorted"])
    T = x.shape[1] if bf else x.shape[0]
    padded, lens = pad_packed_sequence(packed, batch_first=bf, padding_value=7.0, total_length=T)
    np.testing.assert_array_equal(to_numpy(lens), lengths)
    expected = np.full_like(x, 7.0)
    for b, n in enumerate(lengths):
        if bf:
            expected[b, :n] = x[b, :n]
        else:
            expected[:n, b] = x[:n, b]
    same(padded, expected, "round trip")
    # and unpack_sequence gives each sequence back, in the original order
    for b, (seq, n) in enumerate(zip(unpack_sequence(packed), lengths)):
        same(seq, x[b, :n] if bf else x[:n, b], f"sequence {b}")


@st.composite
def sequence_lists(draw, min_length=0):
    B = draw(st.integers(1, 20))
    lengths = draw(st.lists(st.integers(min_length, 6), min_size=B, max_size=B))
    feat = tuple(draw(st.lists(st.integers(1, 3), min_size=0, max_size=2)))
    dtype = draw(st.sampled_from(DTYPES))
    seqs = random_sequences(draw(st.integers(0, 2**31 - 1)), lengths, feat, dtype)
    return seqs, lengths


@given(sequence_lists(), st.booleans(), st.sampled_from([0.0, 2.5, float("-inf")]), st.sampled_from(["right", "left"]),
       st.sampled_from(["numpy", "tensor", "torch"]))
def test_pad_sequence_matches_torch(data, batch_first, padding_value, side, kind):
    seqs, _ = data
    before = [s.copy() for s in seqs]
    wrap = {"numpy": lambda a: a, "tensor": Tensor, "torch": torch.from_numpy}[kind]
    ours = pad_sequence([wrap(s) for s in seqs], batch_first=batch_first, padding_value=padding_value,
                        padding_side=side)
    ref = trnn.pad_sequence([torch.from_numpy(s) for s in seqs], batch_first=batch_first,
                            padding_value=padding_value, padding_side=side)
    assert isinstance(ours, Tensor)
    same(ours, ref, "pad_sequence")
    for s, b in zip(seqs, before):
        np.testing.assert_array_equal(s, b)
        assert not np.shares_memory(to_numpy(ours), s)


@given(sequence_lists(min_length=1), st.booleans())
def test_pack_sequence_matches_torch(data, enforce_sorted):
    seqs, lengths = data
    if enforce_sorted:
        seqs = sorted(seqs, key=len, reverse=True)
        lengths = sorted(lengths, reverse=True)
    ours = pack_sequence(seqs, enforce_sorted=enforce_sorted)
    # pack_sequence is pad_sequence + pack_padded_sequence in torch
    ref = torch_pack_reference(trnn.pad_sequence([torch.from_numpy(s) for s in seqs]).numpy(), lengths,
                               False, enforce_sorted)
    same_packed(ours, ref)
    for s in seqs:
        assert not np.shares_memory(to_numpy(ours.data), s)
    if enforce_sorted or len(seqs) <= 16:
        same_packed(ours, trnn.pack_sequence([torch.from_numpy(s) for s in seqs], enforce_sorted=enforce_sorted))


# --------------------------------------------------------------------------------------------------
# parity with torch, fixed cases
# --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("enforce_sorted", [False, True])
def test_pack_and_pad_fixed_case(dtype, batch_first, enforce_sorted):
    lengths = [5, 3, 3, 1] if enforce_sorted else [3, 5, 1, 3]
    shape = (4, 6, 2) if batch_first else (6, 4, 2)
    x = np.arange(np.prod(shape), dtype=dtype).reshape(shape)
    ours = pack_padded_sequence(x, lengths, batch_first=batch_first, enforce_sorted=enforce_sorted)
    ref = trnn.pack_padded_sequence(torch.from_numpy(x), lengths, batch_first=batch_first,
                                    enforce_sorted=enforce_sorted)
    same_packed(ours, ref)
    assert to_numpy(ours.batch_sizes).tolist() == [4, 3, 3, 1, 1]
    for total_length in (None, 5, 8):
        p, n = pad_packed_sequence(ours, batch_first=batch_first, total_length=total_length)
        tp, tn = trnn.pad_packed_sequence(ref, batch_first=batch_first, total_length=total_length)
        same(p, tp, f"padded total_length={total_length}")
        same(n, tn, "lengths")


def test_unsorted_indices_and_the_docstring_example():
    seq = np.array([[1, 2, 0], [3, 0, 0], [4, 5, 6]])
    packed = pack_padded_sequence(seq, [2, 1, 3], batch_first=True, enforce_sorted=False)
    assert to_numpy(packed.data).tolist() == [4, 1, 3, 5, 2, 6]
    assert to_numpy(packed.batch_sizes).tolist() == [3, 2, 1]
    assert to_numpy(packed.sorted_indices).tolist() == [2, 0, 1]
    assert to_numpy(packed.unsorted_indices).tolist() == [1, 2, 0]
    for f in ("data", "batch_sizes", "sorted_indices", "unsorted_indices"):
        assert to_numpy(getattr(packed, f)).dtype == np.int64
    padded, lens = pad_packed_sequence(packed, batch_first=True)
    assert to_numpy(padded).tolist() == seq.tolist()
    assert to_numpy(lens).tolist() == [2, 1, 3]


def test_input_truncated_past_the_longest_length_and_scalar_features():
    x = np.arange(12, dtype=np.float32).reshape(6, 2)  # (T, B), no feature dimension
    ours = pack_padded_sequence(x, [3, 2])
    same_packed(ours, trnn.pack_padded_sequence(torch.from_numpy(x), [3, 2]))
    assert ours.data.shape == (5,)
    padded, _ = pad_packed_sequence(ours)
    assert padded.shape == (3, 2)


def test_list_and_integer_inputs_follow_torch_tensor_dtypes():
    ours = pack_sequence([[1.0, 2.0, 3.0], [4.0]])
    assert ours.data.dtype == np.float32
    same_packed(ours, trnn.pack_sequence([torch.tensor([1.0, 2.0, 3.0]), torch.tensor([4.0])]))
    ints = [np.array([1, 2, 3], np.int64), np.array([4, 5], np.int64)]
    same_packed(pack_sequence(ints), trnn.pack_sequence([torch.from_numpy(a) for a in ints]))
    same(pad_sequence(ints, padding_value=-1), trnn.pad_sequence([torch.from_numpy(a) for a in ints], padding_value=-1))


def test_pad_and_pack_sequence_take_the_first_sequence_dtype_like_torch():
    a, b = np.ones((3, 2), np.float32), np.full((1, 2), 0.1, np.float64)
    same(pad_sequence([a, b]), trnn.pad_sequence([torch.from_numpy(a), torch.from_numpy(b)]))
    same_packed(pack_sequence([a, b]), trnn.pack_sequence([torch.from_numpy(a), torch.from_numpy(b)]))


def test_pad_sequence_of_a_stacked_tensor_iterates_its_first_dimension():
    x = np.random.default_rng(0).standard_normal((3, 4, 2)).astype(np.float32)
    same(pad_sequence(x, batch_first=True), trnn.pad_sequence(torch.from_numpy(x), batch_first=True))
    same(pad_sequence(Tensor(x)), trnn.pad_sequence(torch.from_numpy(x)))


def test_float_lengths_holding_whole_numbers_are_accepted_like_torch():
    x = np.zeros((3, 2, 1), np.float32)
    ours = pack_padded_sequence(x, np.array([3.0, 2.0]))
    same_packed(ours, trnn.pack_padded_sequence(torch.from_numpy(x), torch.tensor([3.0, 2.0])))


def test_pad_packed_sequence_accepts_a_torch_packed_sequence():
    x = np.random.default_rng(1).standard_normal((4, 3, 2))
    ref = trnn.pack_padded_sequence(torch.from_numpy(x), [2, 4, 1], enforce_sorted=False)
    padded, lens = pad_packed_sequence(ref, padding_value=-3.0)
    tp, tn = trnn.pad_packed_sequence(ref, padding_value=-3.0)
    same(padded, tp)
    same(lens, tn)


def test_unpad_sequence_matches_torch_and_leaves_its_input_alone():
    x = np.random.default_rng(2).standard_normal((5, 3, 2))
    before = x.copy()
    lengths = [5, 2, 3]
    ours = unpad_sequence(x, lengths)
    ref = trnn.unpad_sequence(torch.from_numpy(x.copy()), torch.tensor(lengths))
    assert len(ours) == 3
    for a, b in zip(ours, ref):
        same(a, b)
    np.testing.assert_array_equal(x, before)


# --------------------------------------------------------------------------------------------------
# PackedSequence itself
# --------------------------------------------------------------------------------------------------

def test_packed_sequence_is_a_named_tuple_like_torch():
    packed = pack_padded_sequence(np.ones((3, 2, 4), np.float32), [3, 1], enforce_sorted=False)
    data, batch_sizes, sorted_indices, unsorted_indices = packed
    assert isinstance(packed, tuple) and len(packed) == 4
    assert PackedSequence._fields == ("data", "batch_sizes", "sorted_indices", "unsorted_indices")
    assert data is packed.data and batch_sizes is packed.batch_sizes
    assert to_numpy(sorted_indices).tolist() == [0, 1] and to_numpy(unsorted_indices).tolist() == [0, 1]
    assert packed.is_cuda is False
    text = repr(packed)
    assert text.startswith("PackedSequence(data=") and "batch_sizes=" in text and "unsorted_indices=" in text
    assert repr(pack_sequence([np.ones(2)])).endswith("sorted_indices=None, unsorted_indices=None)")
    again = pickle.loads(pickle.dumps(packed))
    same(again.data, to_numpy(packed.data))


def test_packed_sequence_constructor_forms():
    data = Tensor(np.arange(3.0))
    sorted_only = PackedSequence(data, Tensor(np.array([2, 1])), Tensor(np.array([1, 0])))
    assert to_numpy(sorted_only.unsorted_indices).tolist() == [1, 0]  # computed, as in torch
    pair = PackedSequence((data, np.array([2, 1], np.int32)))
    assert pair.data is data
    assert to_numpy(pair.batch_sizes).dtype == np.int64
    assert pair.sorted_indices is None and pair.unsorted_indices is None
    perm = invert_permutation(np.array([2, 0, 1]))
    assert to_numpy(perm).tolist() == to_numpy(trnn.invert_permutation(torch.tensor([2, 0, 1]))).tolist()
    assert invert_permutation(None) is None
    with pytest.raises(TypeError, match="batch_sizes"):
        PackedSequence(data)
    with pytest.raises(ValueError, match="permutation"):
        PackedSequence(data, Tensor(np.array([2, 1])), Tensor(np.array([0, 5])))


def test_packed_sequence_to():
    packed = pack_padded_sequence(np.ones((3, 2, 4), np.float32), [3, 1], enforce_sorted=False)
    assert packed.to(np.float32) is packed
    assert packed.to("cpu") is packed
    assert packed.to(sr.float32) is packed
    doubled = packed.to(sr.float64)
    assert isinstance(doubled, PackedSequence) and doubled is not packed
    assert doubled.data.dtype == np.float64 and packed.data.dtype == np.float32
    assert doubled.batch_sizes is packed.batch_sizes and doubled.sorted_indices is packed.sorted_indices
    assert packed.to(torch.float64).data.dtype == np.float64
    assert packed.double().data.dtype == np.float64 and doubled.float().data.dtype == np.float32
    assert packed.to(dtype=np.float64, device="cpu").data.dtype == np.float64
    with pytest.raises(RuntimeError, match="cuda"):
        packed.to("cuda")
    with pytest.raises(RuntimeError, match="cuda"):
        packed.cuda()
    assert packed.cpu() is packed


# --------------------------------------------------------------------------------------------------
# bad input
# --------------------------------------------------------------------------------------------------

X = np.zeros((4, 3, 2), np.float32)


@pytest.mark.parametrize("lengths", [[2, 4, 1], [1, 2, 3], [0, 2, 1]])
def test_unsorted_lengths_with_enforce_sorted(lengths):
    with pytest.raises(RuntimeError, match="must be sorted in decreasing order when `enforce_sorted` is True"):
        pack_padded_sequence(X, lengths)
    with pytest.raises(RuntimeError, match="must be sorted in decreasing order"):
        pack_sequence([np.ones(n + 1) for n in lengths])
    if min(lengths) > 0:
        pack_padded_sequence(X, lengths, enforce_sorted=False)  # fine without enforce_sorted


@pytest.mark.parametrize("lengths", [[4, 2, 0], [4, 2, -1], [0, 0, 0]])
@pytest.mark.parametrize("enforce_sorted", [True, False])
def test_zero_or_negative_lengths(lengths, enforce_sorted):
    with pytest.raises(RuntimeError, match="Length of all samples has to be greater than 0"):
        pack_padded_sequence(X, lengths, enforce_sorted=enforce_sorted)


def test_zero_length_sequence_in_pack_sequence():
    with pytest.raises(RuntimeError, match="greater than 0"):
        pack_sequence([np.ones((3, 2)), np.ones((0, 2))])


@pytest.mark.parametrize("batch_first", [False, True])
def test_length_longer_than_the_padded_sequence(batch_first):
    x = np.zeros((3, 4, 2) if batch_first else (4, 3, 2), np.float32)
    with pytest.raises(ValueError, match=r"at most the padded sequence length 4.*longest length given is 6"):
        pack_padded_sequence(x, [6, 2, 1], batch_first=batch_first)
    with pytest.raises(ValueError, match="longest length given is 5"):
        pack_padded_sequence(x, [2, 5, 1], batch_first=batch_first, enforce_sorted=False)


@pytest.mark.parametrize("lengths", [[4, 2], [4, 2, 1, 1], []])
def test_number_of_lengths_differs_from_the_batch(lengths):
    with pytest.raises(RuntimeError, match=rf"Expected `len\(lengths\)` to be equal to batch_size, but got {len(lengths)} \(batch_size=3\)"):
        pack_padded_sequence(X, lengths)


@pytest.mark.parametrize("lengths", [[[4, 2, 1]], 3, np.ones((3, 1), np.int64)])
def test_lengths_not_one_dimensional(lengths):
    with pytest.raises(RuntimeError, match="'lengths' argument should be a 1D CPU int64 tensor, but got [02]D"):
        pack_padded_sequence(X, lengths)


@pytest.mark.parametrize("lengths", [[4.5, 2, 1], np.array([4, 2, np.nan]), ["4", "2", "1"], [True, True, False], None])
def test_lengths_not_integers(lengths):
    with pytest.raises(TypeError, match="'lengths' must"):
        pack_padded_sequence(X, lengths)


@pytest.mark.parametrize("shape", [(4,), ()])
def test_input_of_rank_below_two(shape):
    with pytest.raises(ValueError, match=rf"at least 2 dimensions \(T x B x \*\), got a {len(shape)}D input"):
        pack_padded_sequence(np.zeros(shape, np.float32), [1])


@pytest.mark.parametrize("shape", [(0, 3, 2), (4, 3, 0)])
def test_empty_input(shape):
    with pytest.raises(RuntimeError, match="Cannot pack empty tensors"):
        pack_padded_sequence(np.zeros(shape, np.float32), [1, 1, 1])


def test_non_numeric_input():
    with pytest.raises(TypeError, match="input must hold numbers"):
        pack_padded_sequence(np.array([["a", "b"], ["c", "d"]]), [2, 2])
    with pytest.raises(TypeError, match="input must be a Tensor"):
        pack_padded_sequence(None, [1])


@pytest.mark.parametrize("fn", [pad_sequence, pack_sequence])
def test_empty_sequence_list(fn):
    with pytest.raises(RuntimeError, match="received an empty list of sequences"):
        fn([])
    with pytest.raises(RuntimeError, match="received an empty list of sequences"):
        fn(iter([]))


@pytest.mark.parametrize("fn", [pad_sequence, pack_sequence])
def test_bad_sequence_lists(fn):
    with pytest.raises(TypeError, match="Expected iterable for input sequences, but got arg of type: <class 'int'>"):
        fn(5)
    with pytest.raises(RuntimeError, match=r"same trailing dimensions.*\(3, 2\).*sequence 1 has shape \(2, 3\)"):
        fn([np.zeros((3, 2)), np.zeros((2, 3))])
    with pytest.raises(ValueError, match="sequence 1 is a 0D scalar"):
        fn([np.zeros(3), np.zeros(())])
    with pytest.raises(TypeError, match="sequence 1 must hold numbers"):
        fn([np.zeros(3), np.array(["x"])])


def test_pack_sequence_of_empty_sequences():
    with pytest.raises(RuntimeError, match="Cannot pack empty tensors"):
        pack_sequence([np.zeros((3, 0)), np.zeros((2, 0))])


def test_bad_padding_side_and_value():
    with pytest.raises(RuntimeError, match="Expected padding_side to be one of left or right, but got middle"):
        pad_sequence([np.zeros(3)], padding_side="middle")
    with pytest.raises(TypeError, match="padding_value must be a number, got str"):
        pad_sequence([np.zeros(3)], padding_value="0")
    with pytest.raises(TypeError, match="padding_value must be a number"):
        pad_packed_sequence(pack_sequence([np.zeros(3)]), padding_value=None)


def test_total_length_shorter_than_the_longest_sequence():
    packed = pack_padded_sequence(X, [4, 2, 1])
    with pytest.raises(ValueError, match="Expected total_length to be at least the length of the longest sequence in "
                                         "input, but got total_length=3 and max sequence length being 4"):
        pad_packed_sequence(packed, total_length=3)
    with pytest.raises(TypeError, match="total_length must be an int or None, got float"):
        pad_packed_sequence(packed, total_length=5.0)


@pytest.mark.parametrize("bad", [X, Tensor(X), torch.zeros(4, 3), (X, [1]), [X, np.array([3, 1])], None])
def test_pad_packed_sequence_of_something_else(bad):
    with pytest.raises(TypeError, match="pad_packed_sequence: expected a PackedSequence"):
        pad_packed_sequence(bad)


def test_pad_packed_sequence_of_a_forged_packed_sequence():
    data = Tensor(np.zeros((5, 3), np.float32))
    with pytest.raises(ValueError, match=r"batch_sizes must be a non-empty, non-increasing.*\[2, 3\]"):
        pad_packed_sequence(PackedSequence(data, Tensor(np.array([2, 3], np.int64))))
    with pytest.raises(ValueError, match="summing to data.shape\\[0\\]=5"):
        pad_packed_sequence(PackedSequence(data, Tensor(np.array([3, 1], np.int64))))
    with pytest.raises(ValueError, match="unsorted_indices must be a 1D permutation"):
        pad_packed_sequence(PackedSequence(data, Tensor(np.array([3, 2], np.int64)), None, Tensor(np.array([0, 0, 1]))))


def test_errors_leave_the_inputs_untouched():
    x = np.random.default_rng(3).standard_normal((4, 3, 2))
    lengths = np.array([2, 4, 1])
    x_before, lengths_before = x.copy(), lengths.copy()
    with pytest.raises(RuntimeError):
        pack_padded_sequence(x, lengths)
    pack_padded_sequence(x, lengths, enforce_sorted=False)
    np.testing.assert_array_equal(x, x_before)
    np.testing.assert_array_equal(lengths, lengths_before)
    assert lengths.dtype == lengths_before.dtype


def test_packing_and_padding_pass_gradients_like_torch():
    import torch

    import steprnn as sr
    from steprnn.nn.utils import rnn as R

    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 3, 2))
    seqs = [rng.standard_normal((n, 2)) for n in (2, 5, 3)]
    w = rng.standard_normal((5, 3, 2))
    xs = sr.tensor(x, requires_grad=True)
    xt = torch.tensor(x, requires_grad=True)
    ss = [sr.tensor(s, requires_grad=True) for s in seqs]
    st_ = [torch.tensor(s, requires_grad=True) for s in seqs]
    p = R.pack_padded_sequence(xs, [2, 5, 3], enforce_sorted=False)
    pt = torch.nn.utils.rnn.pack_padded_sequence(xt, torch.tensor([2, 5, 3]), enforce_sorted=False)
    padded, _ = R.pad_packed_sequence(p, total_length=5)
    padded_t, _ = torch.nn.utils.rnn.pad_packed_sequence(pt, total_length=5)
    a = R.pad_sequence(ss)
    at = torch.nn.utils.rnn.pad_sequence(st_)
    b = R.pack_sequence(ss, enforce_sorted=False).data
    bt = torch.nn.utils.rnn.pack_sequence(st_, enforce_sorted=False).data
    ((padded * sr.tensor(w)).sum() + (a ** 2).sum() + (b ** 3).sum()).backward()
    ((padded_t * torch.tensor(w)).sum() + (at ** 2).sum() + (bt ** 3).sum()).backward()
    np.testing.assert_allclose(xs.grad.numpy(), xt.grad.numpy(), atol=1e-12)
    for s_, t_ in zip(ss, st_):
        np.testing.assert_allclose(s_.grad.numpy(), t_.grad.numpy(), atol=1e-12)
