"""``numba.cuda`` kernels, the GPU twin of ``kernels/cpu/`` (install the ``gpu`` extra: numba-cuda).

Same module names, entry points, arguments and buffer layouts as the CPU kernels, with device
arrays in place of NumPy arrays (and an optional ``stream=`` keyword):

* ``rnn.py``, ``lstm.py``, ``gru.py``: ``*_forward`` (input projection, then the whole recurrence
  in one launch, recording gates, pre-activations and states into the buffers it is given) and
  ``*_backward`` (BPTT from those records);
* ``matmul.py``: ``project``, ``matmul``, ``matmul_tn``, a tiled shared-memory GEMM (on the CPU
  these live in ``cpu/jit.py``);
* ``backend.py``: the names of ``cpu/backend.py`` (the kernels without ``parts``), plus the array
  operations the layers need between kernels (``steprnn._dispatch`` calls only these);
* ``bptt.py``: previous states, column sums and ``o ⊙ tanh(c)`` on the device (NumPy on the CPU);
* ``glue.py``: copies of strided views, sums, products, packed gather/scatter, row selection,
  ``batch_first`` swaps and weight transposes on the device (NumPy one-liners on the CPU);
* ``jit.py``: launch settings, shared device functions, ``host_call`` (run an entry on NumPy arrays).

``cpu/vexp.py`` and ``cpu/blas_threads.py`` have no twin: the GPU has its own ``exp`` (libdevice)
and no BLAS. Importing these modules needs ``numba.cuda`` but no GPU.
"""
