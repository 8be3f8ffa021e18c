"""steprnn.utils.data against torch.utils.data: the same batches, in the same order, under the same seed."""
from __future__ import annotations

import collections
import warnings

import numpy as np
import pytest
import torch
import torch.utils.data as TD
from hypothesis import given
from hypothesis import strategies as st

import steprnn as sr
import steprnn.utils.data as D
from steprnn.random import Generator


def as_np(x):
    if isinstance(x, (list, tuple)):
        return [as_np(v) for v in x]
    if isinstance(x, dict):
        return {k: as_np(v) for k, v in x.items()}
    if hasattr(x, "detach"):
        return x.detach().numpy().copy()
    return x


def assert_batches_equal(ours, theirs):
    assert len(ours) == len(theirs), f"{len(ours)} batches vs torch's {len(theirs)}"
    for i, (a, b) in enumerate(zip(ours, theirs)):
        a, b = as_np(a), as_np(b)
        if isinstance(b, list):
            assert isinstance(a, list) and len(a) == len(b)
            for x, y in zip(a, b):
                assert x.dtype == y.dtype and np.array_equal(x, y), f"batch {i}"
        elif isinstance(b, dict):
            assert a.keys() == b.keys()
            for k in b:
                assert np.array_equal(a[k], b[k]), f"batch {i} key {k}"
        else:
            assert a.dtype == b.dtype and np.array_equal(a, b), f"batch {i}"


def twin_datasets(n, features=3):
    x = np.arange(n * features, dtype=np.float32).reshape(n, features)
    y = np.arange(n, dtype=np.int64) % 5
    return D.TensorDataset(sr.tensor(x), sr.tensor(y)), TD.TensorDataset(torch.from_numpy(x), torch.from_numpy(y))


@given(seed=st.integers(0, 2**63 - 1), n=st.integers(1, 70), batch_size=st.integers(1, 17), drop_last=st.booleans(),
       epochs=st.integers(1, 3))
def test_shuffled_loader_follows_the_global_seed(seed, n, batch_size, drop_last, epochs):
    ds, tds = twin_datasets(n)
    sr.manual_seed(seed)
    torch.manual_seed(seed)
    loader = D.DataLoader(ds, batch_size=batch_size, shuffle=True, drop_last=drop_last)
    tloader = TD.DataLoader(tds, batch_size=batch_size, shuffle=True, drop_last=drop_last)
    assert len(loader) == len(tloader)
    for _ in range(epochs):
        assert_batches_equal(list(loader), list(tloader))
    # the global streams are still aligned afterwards (one base seed and one sampler seed per epoch)
    assert np.array_equal(sr.rand(4).numpy(), torch.rand(4).numpy())


@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 40), batch_size=st.integers(1, 9))
def test_loader_generator_argument(seed, n, batch_size):
    ds, tds = twin_datasets(n)
    g, tg = Generator().manual_seed(seed), torch.Generator().manual_seed(seed)
    ours = list(D.DataLoader(ds, batch_size=batch_size, shuffle=True, generator=g))
    theirs = list(TD.DataLoader(tds, batch_size=batch_size, shuffle=True, generator=tg))
    assert_batches_equal(ours, theirs)
    assert g.random_int64(1)[0] == torch.empty((), dtype=torch.int64).random_(generator=tg).item()


@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 50),
       lengths=st.sampled_from([[0.3, 0.7], [0.5, 0.25, 0.25], [0.1, 0.1, 0.8], [1.0]]))
def test_random_split_fractions_and_counts(seed, n, lengths):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = D.random_split(range(n), lengths, generator=Generator().manual_seed(seed))
        theirs = TD.random_split(range(n), lengths, generator=torch.Generator().manual_seed(seed))
    assert [list(s) for s in ours] == [list(s) for s in theirs]
    counts = [len(s) for s in theirs]
    sr.manual_seed(seed)
    torch.manual_seed(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # counts like [1, 0] read as fractions, in both libraries
        ours = D.random_split(range(n), counts)
        theirs = TD.random_split(range(n), counts)
    assert [list(s) for s in ours] == [list(s) for s in theirs]
    with pytest.raises(ValueError, match="Sum of input lengths does not equal"):
        D.random_split(range(n), [n + 1])


@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 30), num_samples=st.integers(1, 100))
def test_samplers_match(seed, n, num_samples):
    g, tg = Generator().manual_seed(seed), torch.Generator().manual_seed(seed)
    assert list(D.RandomSampler(range(n), replacement=True, num_samples=num_samples, generator=g)) == \
        list(TD.RandomSampler(range(n), replacement=True, num_samples=num_samples, generator=tg))
    assert list(D.RandomSampler(range(n), num_samples=num_samples, generator=g)) == \
        list(TD.RandomSampler(range(n), num_samples=num_samples, generator=tg))
    idx = list(range(0, 3 * n, 3))
    assert list(D.SubsetRandomSampler(idx, generator=g)) == list(TD.SubsetRandomSampler(idx, generator=tg))
    w = np.linspace(0.1, 2.0, n)
    assert list(D.WeightedRandomSampler(w, num_samples, generator=g)) == \
        list(TD.WeightedRandomSampler(w.tolist(), num_samples, generator=tg))
    assert list(D.SequentialSampler(range(n))) == list(range(n))
    for drop_last in (False, True):
        bs = D.BatchSampler(D.SequentialSampler(range(n)), 4, drop_last)
        tbs = TD.BatchSampler(TD.SequentialSampler(range(n)), 4, drop_last)
        assert list(bs) == list(tbs) and len(bs) == len(tbs)


Pair = collections.namedtuple("Pair", "a b")


def test_default_collate_shapes_and_types_match_torch():
    samples = [
        {"x": np.full(3, i, dtype=np.float32), "y": i, "z": 0.5 * i, "name": f"s{i}", "t": (i, [i, 2 * i])}
        for i in range(4)
    ]
    ours, theirs = D.default_collate(samples), TD.default_collate(samples)
    assert ours.keys() == theirs.keys()
    for key in ("x", "y", "z"):
        assert np.array_equal(ours[key].numpy(), theirs[key].numpy()) and ours[key].numpy().dtype == theirs[key].numpy().dtype
    assert ours["name"] == theirs["name"]
    assert_batches_equal([ours["t"][1]], [theirs["t"][1]])
    pairs = [Pair(np.float64(i), sr.tensor([i, i])) for i in range(3)]
    tpairs = [Pair(np.float64(i), torch.tensor([i, i])) for i in range(3)]
    got, want = D.default_collate(pairs), TD.default_collate(tpairs)
    assert type(got) is Pair and np.array_equal(got.a.numpy(), want.a.numpy())
    assert np.array_equal(got.b.numpy(), want.b.numpy())
    with pytest.raises(RuntimeError, match="each element in list of batch should be of equal size"):
        D.default_collate([[1, 2], [3]])
    with pytest.raises(RuntimeError, match="stack expects each tensor to be equal size"):
        D.default_collate([sr.tensor([1.0]), sr.tensor([1.0, 2.0])])
    with pytest.raises(TypeError, match="default_collate: batch must contain"):
        D.default_collate([object(), object()])


def test_collate_fn_sampler_batch_sampler_and_no_batching():
    ds, tds = twin_datasets(10)

    def pad(batch):
        return len(batch), sr.stack([b[0] for b in batch])

    out = list(D.DataLoader(ds, batch_size=4, collate_fn=pad))
    assert [n for n, _ in out] == [4, 4, 2] and out[2][1].shape == (2, 3)
    order = [9, 0, 5, 3]
    assert_batches_equal(list(D.DataLoader(ds, batch_size=2, sampler=order)),
                         list(TD.DataLoader(tds, batch_size=2, sampler=order)))
    batches = [[1, 2, 3], [7], [0, 9]]
    assert_batches_equal(list(D.DataLoader(ds, batch_sampler=batches)), list(TD.DataLoader(tds, batch_sampler=batches)))
    single = list(D.DataLoader(ds, batch_size=None))
    assert len(single) == 10 and single[3][0].shape == (3,)
    arrays = list(D.DataLoader([np.ones(2) * i for i in range(3)], batch_size=None))
    assert all(isinstance(a, sr.Tensor) for a in arrays)


def test_subset_concat_and_stack_datasets():
    ds, _ = twin_datasets(6)
    sub = D.Subset(ds, [4, 1])
    assert len(sub) == 2 and int(sub[0][1].item()) == 4 % 5
    cat = D.ConcatDataset([range(3), range(10, 12)])
    assert len(cat) == 5 and [cat[i] for i in range(5)] == [0, 1, 2, 10, 11] and cat[-1] == 11
    both = D.StackDataset(range(3), "abc")
    assert both[1] == (1, "b")
    named = D.StackDataset(x=range(3), y="abc")
    assert named[2] == {"x": 2, "y": "c"}
    with pytest.raises(ValueError, match="Size mismatch"):
        D.TensorDataset(sr.zeros(3, 2), sr.zeros(4))


class Stream(D.IterableDataset):
    def __init__(self, n):
        self.n = n

    def __iter__(self):
        return iter(range(self.n))

    def __len__(self):
        return self.n


class TStream(TD.IterableDataset):
    def __init__(self, n):
        self.n = n

    def __iter__(self):
        return iter(range(self.n))

    def __len__(self):
        return self.n


@pytest.mark.parametrize("drop_last", [False, True])
def test_iterable_datasets(drop_last):
    assert_batches_equal(list(D.DataLoader(Stream(7), batch_size=3, drop_last=drop_last)),
                         list(TD.DataLoader(TStream(7), batch_size=3, drop_last=drop_last)))
    assert len(D.DataLoader(Stream(7), batch_size=3, drop_last=drop_last)) == \
        len(TD.DataLoader(TStream(7), batch_size=3, drop_last=drop_last))
    with pytest.raises(ValueError, match="expected unspecified shuffle option"):
        D.DataLoader(Stream(3), shuffle=True)


def test_option_conflicts_match_torch_messages():
    ds, tds = twin_datasets(4)
    for kw in (dict(sampler=[0, 1], shuffle=True), dict(batch_sampler=[[0]], batch_size=2),
               dict(batch_size=None, drop_last=True), dict(num_workers=-1)):
        with pytest.raises(ValueError) as ours:
            D.DataLoader(ds, **kw)
        with pytest.raises(ValueError) as theirs:
            TD.DataLoader(tds, **kw)
        assert str(ours.value) == str(theirs.value)
    with pytest.raises(ValueError, match="batch_size should be a positive integer value"):
        D.BatchSampler(range(3), 0, False)


def test_workers_run_in_process_with_a_warning():
    ds, tds = twin_datasets(5)
    with pytest.warns(UserWarning, match="calling process"):
        loader = D.DataLoader(ds, batch_size=2, num_workers=2)
    assert_batches_equal(list(loader), list(TD.DataLoader(tds, batch_size=2)))


def test_importable_as_torch_paths():
    import steprnn.utils.data.dataloader as dl
    from steprnn.utils.data import DataLoader, Dataset, TensorDataset  # noqa: F401

    assert dl.DataLoader is DataLoader and sr.utils.data.DataLoader is DataLoader
    assert D.get_worker_info() is None and TD.get_worker_info() is None
