"""``steprnn.utils.data``: datasets, samplers and the DataLoader, as ``torch.utils.data``.

Shuffling draws PyTorch's numbers: ``DataLoader(shuffle=True)`` after ``sr.manual_seed(s)`` visits the
samples in the order ``torch.utils.data.DataLoader`` visits them after ``torch.manual_seed(s)``, and
``random_split`` with the same generator seed gives the same subsets. ``num_workers > 0`` is accepted
and runs in the calling process (the batches are the same; there is no parallel loading).
"""
from .collate import default_collate, default_convert
from .dataloader import DataLoader, get_worker_info
from .dataset import (ConcatDataset, Dataset, IterableDataset, StackDataset, Subset, TensorDataset,
                      random_split)
from .sampler import (BatchSampler, RandomSampler, Sampler, SequentialSampler, SubsetRandomSampler,
                      WeightedRandomSampler)

__all__ = [
    "BatchSampler",
    "ConcatDataset",
    "DataLoader",
    "Dataset",
    "IterableDataset",
    "RandomSampler",
    "Sampler",
    "SequentialSampler",
    "StackDataset",
    "Subset",
    "SubsetRandomSampler",
    "TensorDataset",
    "WeightedRandomSampler",
    "default_collate",
    "default_convert",
    "get_worker_info",
    "random_split",
]
