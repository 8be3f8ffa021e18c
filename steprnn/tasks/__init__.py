"""Built-in tasks whose gates behave visibly, and ``train`` to fit small networks to them.

``names()`` lists them; ``get(name)`` gives the seeded generator (``batch(n, seed)``, ``example()``,
``heldout()``, ``score``, the tokens and labels for plots); ``train(name, arch)`` fits an LSTM, GRU
or RNN with steprnn's own ``nn`` and ``optim`` and returns a ``TrainResult``. NumPy only; the digits
ship with the package (``data/digits.csv.gz``, UCI, CC BY 4.0).

>>> import steprnn.tasks as tasks
>>> r = tasks.train("anbn", "lstm", progress=False)   # doctest: +SKIP
>>> r.score, r.task.claim                              # doctest: +SKIP
"""
from .adding import Adding
from .anbn import AnBn
from .brackets import Brackets
from .copy_task import Copy
from .digits import Digits, load_digits
from .model import TaskModel
from .registry import get, names
from .sine import Sine
from .task import IGNORE, Batch, Task, one_hot
from .training import TrainResult, train

__all__ = ["names", "get", "train", "TrainResult", "Task", "Batch", "TaskModel", "IGNORE", "one_hot",
           "AnBn", "Brackets", "Adding", "Copy", "Sine", "Digits", "load_digits"]
