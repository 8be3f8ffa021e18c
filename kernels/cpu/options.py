"""Numba's compilation options for every CPU kernel (``jit.JIT``; ``vexp`` drops ``reassoc``; ``EXACT``
for the loops that replace NumPy code bit for bit).

``error_model='numpy'`` drops Python's division checks so LLVM can vectorise; the fastmath flag
set leaves out ``nnan``/``ninf`` so NaN and inf propagate exactly as in PyTorch.
"""
from ..cache import ENABLED as CACHE

FASTMATH = {"contract", "afn", "reassoc", "nsz", "arcp"}
#: ``cache``: compiled code is kept in a folder named by the hash of every kernel source (``kernels/cache.py``)
JIT = dict(cache=CACHE, nogil=True, error_model="numpy", fastmath=FASTMATH)
#: loops that must give NumPy's bits (``optim_steps``, ``row_sums``): IEEE arithmetic, no fastmath
#: (no contraction into fused multiply-adds, no reordered sums), division without Python's zero check
EXACT = dict(cache=CACHE, nogil=True, error_model="numpy")
