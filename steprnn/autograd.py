"""Reverse-mode automatic differentiation: graph nodes, ``make_node`` and the backward engine.

The graph
---------
Every Tensor produced by a differentiable operation while grad mode is on, from at least one
input that requires grad, carries ``grad_fn``: a :class:`Node`. A node knows

* ``parents`` — the input Tensors of the operation, in order;
* ``backward(grad_output)`` — given the gradient of the loss w.r.t. the node's output (an ndarray
  of the output's shape), returns one gradient per parent (an ndarray of the parent's shape, or
  ``None`` for "no gradient"). A node with several outputs receives a tuple of ndarrays, one per
  output (zeros for outputs no gradient reached).

When a node is made it also captures, per parent, where that parent's gradient must go: the
parent's own ``grad_fn`` at that moment (with the parent's output index) or, for a leaf that
requires grad, the leaf itself (its ``.grad`` accumulates). Later in-place operations that give a
Tensor a new history therefore never redirect gradients of operations recorded before them.

``make_node(output_data, parents, backward_fn)`` is the public way to add an operation: the
recurrent layers use it to register a whole sequence (computed by a Numba kernel) as one node.

CUDA tensors (``cuda_tensor.py``)
---------------------------------
Operations recorded with :func:`record` run on the host: an output whose inputs include a CUDA
tensor is a CUDA tensor (mixing CUDA and CPU tensors raises PyTorch's same-device error), and the
gradients such a node receives are NumPy arrays. ``make_node`` also takes ``numba.cuda`` device
arrays as outputs (they become CUDA tensors, and the node's ``backward_fn`` may receive device
arrays or ndarrays, and may return device arrays for CUDA parents). The engine hands every
gradient to a parent on that parent's side (a CUDA leaf's ``.grad`` is a CUDA tensor).

The engine
----------
``tensor.backward()`` orders the nodes reachable from the tensor topologically (iteratively, so
graphs of any depth work), calls each node's backward once with the sum of the gradients its
outputs received, and accumulates into the ``.grad`` of leaves (adding to what is there, as
PyTorch). Nodes free what they saved afterwards unless ``retain_graph=True``; a second backward
through them raises PyTorch's error. Saved tensors are checked against in-place modification
(version counters), again with PyTorch's error.
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from . import tensor as _tensor_mod
from .dtypes import dtype_name
from .grad_mode import is_grad_enabled

GradFn = Callable[[Any], Any]

#: held while a leaf's ``.grad`` is read and replaced: backward passes running in several threads
#: through shared parameters (one model served by a thread pool) must not lose contributions
_GRAD_LOCK = threading.Lock()

_FREED_MESSAGE = (
    "Trying to backward through the graph a second time (or directly access saved tensors after they "
    "have already been freed). Saved intermediate values of the graph are freed when you call .backward() "
    "or autograd.grad(). Specify retain_graph=True if you need to backward through the graph a second time "
    "or if you need to access saved tensors after calling backward."
)


#: set once the first CUDA tensor exists: until then no operation looks at devices (no CPU cost)
_CUDA_IN_USE = False


def cuda_in_use() -> None:
    """Called by ``cuda_tensor`` when a CUDA tensor is made: from now on outputs follow inputs' device."""
    global _CUDA_IN_USE
    _CUDA_IN_USE = True


def _cuda_mod() -> Any:
    from . import cuda_tensor
    return cuda_tensor


def wrap_output(data: np.ndarray, parents: Sequence[Any], view_of: Any = None) -> _tensor_mod.Tensor:
    """``data`` (an operation's host result) as a Tensor on its inputs' device: a CUDA tensor (a view
    of ``view_of``'s memory when it lies there) when ``parents`` include a CUDA tensor, else a CPU one.
    Raises PyTorch's error when CUDA and CPU tensors are mixed."""
    if not _CUDA_IN_USE:
        return _tensor_mod.Tensor._make(data)
    ct = _cuda_mod()
    cuda = ct.check_same_device(parents)
    if cuda is None:
        return _tensor_mod.Tensor._make(data)
    if view_of is not None and isinstance(view_of, ct.CudaTensor):
        view = view_of._view_of(data)
        if view is not None:
            return view
    for p in parents:  # never two storages on one host array: copy what an input still holds
        if isinstance(p, ct.CudaTensor) and p._st.host is not None and np.may_share_memory(data, p._st.host):
            data = np.array(data, copy=True)
            break
    return ct.CudaTensor._from_host(data)


class VersionCounter:
    """Counts in-place modifications of a tensor's memory; views share their base's counter."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0

    def bump(self) -> None:
        """Record one in-place modification."""
        self.value += 1


class Node:
    """One recorded operation (a ``grad_fn``). See the module docstring for the contract."""

    __slots__ = (
        "__weakref__",
        "_backward_fn",
        "_device_grads",
        "_fresh_grads",
        "_frees",
        "_multi",
        "_name",
        "_outputs",
        "_parent_dtypes",
        "_retained",
        "_saved",
        "edges",
        "parents",
    )

    def __init__(self, parents: tuple, backward_fn: GradFn, name: str,
                 outputs: Sequence[tuple[tuple[int, ...], np.dtype]], saved: Iterable[Any] = (),
                 frees: bool = True) -> None:
        self.parents = parents = parents if type(parents) is tuple else tuple(parents)
        Tensor = _tensor_mod.Tensor
        ndarray = np.ndarray
        edges, dtypes = [], []
        for p in parents:
            if isinstance(p, Tensor):
                if p._requires_grad:  # as _edge: where this parent's gradient goes
                    fn = p._grad_fn
                    edges.append((None, p) if fn is None else (fn, p._output_index))
                else:
                    edges.append(None)
                a = p.__dict__.get("_data")
                dtypes.append(a.dtype if type(a) is ndarray else p.dtype)
            else:
                edges.append(None)
                dtypes.append(None)
        self.edges = tuple(edges)
        self._parent_dtypes = tuple(dtypes)
        self._backward_fn: GradFn | None = backward_fn
        self._name = name
        saved_meta = []
        for t in saved:  # (counter, version now, shape and dtype for the message) as _meta
            vc = t._vc
            a = t.__dict__.get("_data")
            if type(a) is ndarray:
                saved_meta.append((vc, vc.value, a.shape, a.dtype))
            else:
                saved_meta.append((vc, vc.value, *_meta(t)))
        self._saved = tuple(saved_meta)
        self._outputs = tuple(outputs)
        self._retained: list = []
        self._frees = frees
        self._multi = len(self._outputs) > 1
        self._device_grads = False  # True: backward_fn takes device arrays as they come (make_node, CUDA)
        # True: backward_fn returns arrays that nothing else holds or views (distinct ones per parent),
        # which a leaf may keep as its first .grad without a copy (the layers' BPTT nodes)
        self._fresh_grads = False

    def name(self) -> str:
        """``'AddBackward0'``: the name PyTorch gives the same node, where there is one."""
        return self._name

    @property
    def next_functions(self) -> tuple:
        """``((grad_fn_or_None, output_index), ...)`` per parent, as ``torch``'s ``next_functions``."""
        out = []
        for edge in self.edges:
            if edge is None:
                out.append((None, 0))
            elif edge[0] is None:
                out.append(("AccumulateGrad", 0))
            else:
                out.append(edge)
        return tuple(out)

    def __repr__(self) -> str:
        return f"<{self._name} object at {hex(id(self))}>"

    def backward(self, grad_output: Any) -> tuple:
        """Gradients w.r.t. the parents (ndarrays or None), given the gradient(s) of the output(s)."""
        if self._backward_fn is None:
            raise RuntimeError(_FREED_MESSAGE)
        self._check_parent_dtypes()
        for vc, version, shape, dtype in self._saved:
            if vc.value != version:
                raise RuntimeError(
                    "one of the variables needed for gradient computation has been modified by an inplace "
                    f"operation: [{dtype_name(dtype)} {list(shape)}], which is used by {self._name}, is at "
                    f"version {vc.value}; expected version {version} instead. Hint: the in-place change came "
                    "after this operation was recorded; make a copy (.clone()) before changing it in place."
                )
        grads = self._backward_fn(grad_output)
        if not isinstance(grads, (tuple, list)):
            grads = (grads,)
        if len(grads) != len(self.parents):
            raise RuntimeError(
                f"function {self._name} returned an incorrect number of gradients "
                f"(expected {len(self.parents)}, got {len(grads)})"
            )
        return tuple(grads)

    def _check_parent_dtypes(self) -> None:
        """Refuse a backward after an input changed dtype (``model.double()`` between forward and backward)."""
        for index, (p, dtype) in enumerate(zip(self.parents, self._parent_dtypes)):
            if dtype is None:
                continue
            a = p.__dict__.get("_data")
            if (a.dtype if type(a) is np.ndarray else _meta(p)[1]) != dtype:
                raise RuntimeError(
                    f"a tensor needed for gradient computation changed dtype after the forward: input {index} of "
                    f"{self._name} {list(p.shape)} was {dtype_name(dtype)} and is now {dtype_name(p.dtype)} (e.g. "
                    "model.double() or model.to(dtype) between forward and backward). Change the dtype before the "
                    "forward, then run the forward again."
                )

    def _release(self) -> None:
        if self._frees:
            self._backward_fn = None


def _meta(t: Any) -> tuple[tuple[int, ...], Any]:
    """(shape, dtype) of a tensor; for a CPU tensor straight from its ndarray (no ``Size``/dtype objects
    made: the graph asks this of every parent and output of every node)."""
    a = t.__dict__.get("_data")
    if type(a) is np.ndarray:
        return a.shape, a.dtype
    return tuple(t.shape), t.dtype


def _edge(parent: Any) -> tuple | None:
    if not isinstance(parent, _tensor_mod.Tensor) or not parent.requires_grad:
        return None
    if parent.grad_fn is None:
        return (None, parent)
    return (parent.grad_fn, parent._output_index)


def _check_view(parent: Any) -> None:
    if not isinstance(parent, _tensor_mod.Tensor):  # arrays, torch tensors: no graph of ours
        return
    base = getattr(parent, "_base", None)
    if base is not None and base.grad_fn is not parent._view_base_fn:
        raise RuntimeError(
            "a view of a tensor was used after that tensor was modified by an in-place operation that "
            "recorded a gradient (e.g. `x[i] = y` with y requiring grad); steprnn does not replay views: "
            "take the view again (index/reshape the tensor) after the in-place operation"
        )


def record(data: np.ndarray, parents: Sequence[Any], backward_fn: GradFn, name: str,
           saved: Iterable[Any] = (), save_output: bool = False, view_of: Any = None,
           frees: bool | None = None) -> _tensor_mod.Tensor:
    """Wrap ``data`` as the output of an operation on ``parents`` (the internal form of
    :func:`make_node`). ``view_of``: the input whose memory ``data`` may share (views share its
    version counter). ``saved``: tensors whose values ``backward_fn`` reads (checked for in-place
    changes); ``save_output``: it also reads the output's values."""
    Tensor = _tensor_mod.Tensor
    if _CUDA_IN_USE:
        out = wrap_output(data, parents, view_of)
        shares = view_of is not None and (out._st is getattr(view_of, "_st", None) if out.is_cuda else
                                          not view_of.is_cuda and np.may_share_memory(data, view_of._data))
    else:
        out = Tensor._make(data)
        shares = view_of is not None and np.may_share_memory(data, view_of._data)
    if shares:
        out._vc = view_of._vc
        base = view_of._base if view_of._base is not None else view_of
        out._base = base
        out._view_base_fn = base.grad_fn
    if not is_grad_enabled():
        return out
    wanted = False
    for p in parents:
        if isinstance(p, Tensor):
            if getattr(p, "_base", None) is not None:
                _check_view(p)
            wanted = wanted or p._requires_grad
    if wanted:
        saved = tuple(saved) + ((out,) if save_output else ())
        if frees is None:
            frees = bool(saved)
        node = Node(tuple(parents), backward_fn, name, (_meta(out),), saved, frees)
        out._grad_fn = node
        out._requires_grad = True
    return out


def make_node(output_data: np.ndarray | Sequence[np.ndarray], parents: Sequence[Any],
              backward_fn: GradFn, name: str | None = None,
              saved: Iterable[Any] | None = None, save_outputs: bool = False) -> Any:
    """Register one operation computed outside steprnn's ops (e.g. a whole sequence run by a kernel).

    ``output_data``: the result, an ndarray, or a tuple of ndarrays for an operation with several
    outputs; ``numba.cuda`` device arrays become CUDA tensors (ndarrays stay CPU tensors, whatever
    the parents' device). With device-array outputs, ``grad_output`` may hold device arrays or
    ndarrays (``cuda_tensor.device_values`` makes either a device array), and ``backward_fn`` may
    return device arrays for CUDA parents. ``parents``: the input Tensors (entries that are not Tensors, or do not require grad,
    get no gradient). ``backward_fn(grad_output) -> tuple`` returns one ndarray (or ``None``) per
    parent, shaped like that parent; for several outputs ``grad_output`` is a tuple of ndarrays
    (zeros where no gradient reached an output). It must not modify ``grad_output`` in place.

    Returns a Tensor (a tuple of Tensors for several outputs) that has ``grad_fn`` set when grad
    mode is on and a parent requires grad, else plain Tensors. ``saved`` (default: the Tensor
    parents) are the tensors whose values ``backward_fn`` uses: modifying one in place before
    backward raises instead of giving wrong gradients. ``name`` shows in reprs (``grad_fn=<...>``).
    ``save_outputs``: ``backward_fn`` also reads the outputs' memory (a recurrent layer's output is
    the very buffer its BPTT reads), so changing an output in place before backward raises too.
    After one backward the node drops ``backward_fn`` (and what it holds) unless
    ``retain_graph=True``.
    """
    Tensor = _tensor_mod.Tensor
    parents = tuple(parents)
    multi = isinstance(output_data, (tuple, list))
    arrays = tuple(output_data) if multi else (output_data,)
    device_outputs = False
    for a in arrays:
        if type(a) is not np.ndarray and not isinstance(a, np.ndarray):
            if _is_device_array(a):
                device_outputs = True
                continue
            raise TypeError(f"make_node: output_data must be ndarrays or numba.cuda device arrays, got "
                            f"{type(a).__name__}")
    if device_outputs:
        ct = _cuda_mod()
        outs = tuple(ct.CudaTensor._from_device(a) if _is_device_array(a) else Tensor._make(a) for a in arrays)
    else:
        make = Tensor._make
        outs = tuple([make(a) for a in arrays])
    if not is_grad_enabled():
        return outs if multi else outs[0]
    wanted = False
    for p in parents:
        if isinstance(p, Tensor):
            if p._base is not None:
                _check_view(p)
            wanted = wanted or p._requires_grad
    if wanted:
        if saved is None:
            saved = tuple([p for p in parents if isinstance(p, Tensor)])
        if save_outputs:
            saved = tuple(saved) + outs
        metas = [_meta(o) for o in outs] if device_outputs else [(a.shape, a.dtype) for a in arrays]
        node = Node(parents, backward_fn, name or getattr(backward_fn, "__name__", "CustomBackward"),
                    metas, saved, frees=True)
        node._multi = multi
        node._device_grads = device_outputs
        for i, o in enumerate(outs):
            o._grad_fn = node
            o._output_index = i
            o._requires_grad = True
    return outs if multi else outs[0]


# --- the engine --------------------------------------------------------------------------------

def _topological(roots: Iterable[Node]) -> list[Node]:
    """Nodes reachable from ``roots``, each before every node it sends gradients to."""
    order: list[Node] = []
    visited: set[int] = set()
    for root in roots:
        if id(root) in visited:
            continue
        visited.add(id(root))
        stack = [(root, iter(root.edges))]
        while stack:
            node, edges = stack[-1]
            for edge in edges:
                if edge is not None and edge[0] is not None and id(edge[0]) not in visited:
                    visited.add(id(edge[0]))
                    stack.append((edge[0], iter(edge[0].edges)))
                    break
            else:
                stack.pop()
                order.append(node)
    order.reverse()
    return order


def _as_grad_array(grad: Any, like: _tensor_mod.Tensor, what: str) -> np.ndarray:
    if isinstance(grad, (str, bytes, dict, set)):
        raise TypeError(f"{what} must be a Tensor or an array of numbers, got {type(grad).__name__}")
    try:
        g = _tensor_mod.to_numpy(grad)
    except (TypeError, ValueError) as err:
        raise TypeError(f"{what} must be a Tensor or an array of numbers, got {type(grad).__name__}: {err}") from None
    if g.dtype.kind not in "biuf":
        raise TypeError(f"{what} must hold numbers, got dtype {g.dtype}")
    if g.shape != like.shape:
        raise RuntimeError(
            f"Mismatch in shape: {what} has a shape of {tuple(g.shape)} and output has a shape of {tuple(like.shape)}."
        )
    return g.astype(like.dtype, copy=False)


def _is_device_array(x: Any) -> bool:
    return not isinstance(x, np.ndarray) and hasattr(x, "copy_to_host") and hasattr(x, "shape")


def _add(a: Any, b: Any) -> Any:
    """``a + b`` for gradients that may be device arrays (summed on the device when both are)."""
    if isinstance(a, np.ndarray) and isinstance(b, np.ndarray):
        return a + b
    from .cuda_tensor import add_arrays
    return add_arrays(a, b)


def _to_host(g: Any) -> Any:
    return g.copy_to_host() if _is_device_array(g) else g


def _accumulate_leaf(leaf: _tensor_mod.Tensor, g: Any, fresh: bool = False) -> None:
    """``leaf.grad += g`` (a new array, so that a ``.grad`` the caller holds never changes under it).

    ``fresh``: ``g`` is an array no one else holds (a node with ``_fresh_grads`` made it), so a
    first gradient becomes ``.grad`` itself instead of a copy, as PyTorch's AccumulateGrad steals
    a gradient nobody else references. Atomic under ``_GRAD_LOCK``: two threads adding at once
    would otherwise both read the old ``.grad`` and one contribution would be lost. A CUDA leaf's
    ``.grad`` is a CUDA tensor."""
    if _CUDA_IN_USE and leaf.is_cuda:
        ct = _cuda_mod()
        with _GRAD_LOCK:
            if leaf._grad is None:
                if _is_device_array(g):
                    from .cuda_tensor import copy_array
                    leaf._grad = ct.CudaTensor._from_device(copy_array(g, leaf._st.dtype))
                else:
                    leaf._grad = ct.CudaTensor._from_host(np.array(g, dtype=leaf._st.dtype, copy=True))
            else:
                old = leaf._grad
                if _is_device_array(g) and old.is_cuda and not old._st.host_ok:
                    old._data = _add(old._device_array(), g)
                else:
                    old._data = (old._host_read() + _to_host(g)).astype(old._st.dtype, copy=False)
        return
    dtype = _meta(leaf)[1]
    if type(g) is not np.ndarray or g.dtype != dtype:
        g = _to_host(g).astype(dtype, copy=False)
        fresh = False
    with _GRAD_LOCK:
        if leaf._grad is None:
            leaf._grad = _tensor_mod.Tensor._make(g if fresh else np.array(g, dtype=dtype, copy=True))
        else:
            leaf._grad._data = leaf._grad._data + g


def _check_grad(node: Node, index: int, g: Any, parent: _tensor_mod.Tensor) -> Any:
    if type(g) is np.ndarray:  # the common case: a host gradient of a CPU parent's shape and dtype
        a = parent.__dict__.get("_data")
        if type(a) is np.ndarray and g.shape == a.shape and g.dtype == a.dtype:
            return g
    if _CUDA_IN_USE and _is_device_array(g):
        if parent.is_cuda and tuple(g.shape) == tuple(parent.shape) \
                and np.dtype(g.dtype) == parent._st.dtype:
            return g  # stays on the device for a CUDA parent
        g = g.copy_to_host()
    if not isinstance(g, np.ndarray):
        g = np.asarray(_tensor_mod.to_numpy(g))
    shape, dtype = _meta(parent)
    if g.shape != shape:
        if g.size == 1 and parent._data.size == 1:
            g = g.reshape(shape)
        else:
            raise RuntimeError(
                f"Function {node.name()} returned an invalid gradient at index {index} - got {list(g.shape)} "
                f"but expected shape compatible with {list(shape)}"
            )
    if g.dtype != dtype:
        g = g.astype(dtype)
    return g


def run_backward(roots: Sequence[_tensor_mod.Tensor], grads: Sequence[np.ndarray],
                 retain_graph: bool = False, inputs: Sequence[_tensor_mod.Tensor] | None = None,
                 allow_unused: bool = False) -> list | None:
    """The engine. Without ``inputs``: accumulate into leaves' ``.grad``. With ``inputs``: return
    the gradients w.r.t. those tensors (leaves or not) and leave every ``.grad`` alone."""
    leaf_targets: dict[int, int] = {}
    node_targets: dict[tuple[int, int], int] = {}
    results: list = []
    if inputs is not None:
        results = [None] * len(inputs)
        for i, t in enumerate(inputs):
            if not t.requires_grad:
                raise RuntimeError("One of the differentiated Tensors does not require grad")
            if t.grad_fn is None:
                leaf_targets[id(t)] = i
            else:
                node_targets[(id(t.grad_fn), t._output_index)] = i

    def deliver_leaf(leaf: _tensor_mod.Tensor, g: np.ndarray, fresh: bool = False) -> None:
        if inputs is None:
            _accumulate_leaf(leaf, g, fresh)
        elif id(leaf) in leaf_targets:
            i = leaf_targets[id(leaf)]
            results[i] = g if results[i] is None else _add(results[i], g)

    buffers: dict[int, list] = {}
    nodes: list[Node] = []
    for root, g in zip(roots, grads):
        if root.grad_fn is None:
            deliver_leaf(root, g)
            continue
        buf = buffers.setdefault(id(root.grad_fn), [None] * len(root.grad_fn._outputs))
        i = root._output_index
        buf[i] = g if buf[i] is None else _add(buf[i], g)
        nodes.append(root.grad_fn)

    for node in _topological(nodes):
        buf = buffers.pop(id(node), None)
        if buf is None:
            if not retain_graph:
                node._release()
            continue
        for i, t in node._retained:
            if buf[i] is not None:
                _accumulate_leaf(t, buf[i])
        if node_targets:
            for i, g in enumerate(buf):
                key = (id(node), i)
                if key in node_targets and g is not None:
                    results[node_targets[key]] = g
        if _CUDA_IN_USE and not node._device_grads:  # a host operation: its backward works on ndarrays
            buf = [_to_host(g) for g in buf]
        if node._multi:
            arg = tuple(np.zeros(shape, dtype) if g is None else g
                        for g, (shape, dtype) in zip(buf, node._outputs))
        else:
            arg = buf[0]
        parent_grads = node.backward(arg)
        if not retain_graph:
            node._release()
        for index, (edge, g) in enumerate(zip(node.edges, parent_grads)):
            if edge is None or g is None:
                continue
            parent = node.parents[index]
            g = _check_grad(node, index, g, parent)
            target, slot = edge
            if target is None:
                deliver_leaf(slot, g, node._fresh_grads)
            else:
                tbuf = buffers.setdefault(id(target), [None] * len(target._outputs))
                tbuf[slot] = g if tbuf[slot] is None else _add(tbuf[slot], g)
    if inputs is None:
        return None
    for i, r in enumerate(results):
        if r is None and not allow_unused:
            raise RuntimeError(
                "One of the differentiated Tensors appears to not have been used in the graph. "
                "Set allow_unused=True if this is the desired behavior."
            )
    return results


def _prepare(tensors: Any, grad_tensors: Any) -> tuple[list, list]:
    Tensor = _tensor_mod.Tensor
    if isinstance(tensors, Tensor):
        tensors = [tensors]
    tensors = list(tensors)
    if isinstance(grad_tensors, (str, bytes, dict, set)):
        raise TypeError(f"gradient must be a Tensor, an array or None, got {type(grad_tensors).__name__}")
    if grad_tensors is None or not isinstance(grad_tensors, (list, tuple)):
        grad_tensors = [grad_tensors] * len(tensors) if grad_tensors is None else [grad_tensors]
    grad_tensors = list(grad_tensors)
    if len(grad_tensors) != len(tensors):
        raise RuntimeError(f"grad can be implicitly created only for scalar outputs; got {len(grad_tensors)} "
                           f"gradients for {len(tensors)} tensors")
    grads = []
    for i, (t, g) in enumerate(zip(tensors, grad_tensors)):
        if not isinstance(t, Tensor):
            raise TypeError(f"backward() expects Tensors, got {type(t).__name__}")
        if not t.requires_grad:
            raise RuntimeError(f"element {i} of tensors does not require grad and does not have a grad_fn")
        if g is None:
            if t._data.size != 1:
                raise RuntimeError("grad can be implicitly created only for scalar outputs")
            shape, dtype = _meta(t)
            grads.append(np.ones(shape, dtype=dtype))
        else:
            grads.append(_as_grad_array(g, t, f"grad_output[{i}]"))
    return tensors, grads


def backward(tensors: Any, grad_tensors: Any = None, retain_graph: bool | None = None,
             create_graph: bool = False) -> None:
    """``sr.autograd.backward``: accumulate d(sum of tensors·grad_tensors)/d(leaf) into each leaf's ``.grad``."""
    if create_graph:
        raise NotImplementedError("create_graph=True (higher-order gradients) is not supported by steprnn")
    roots, grads = _prepare(tensors, grad_tensors)
    run_backward(roots, grads, retain_graph=bool(retain_graph))


def grad(outputs: Any, inputs: Any, grad_outputs: Any = None, retain_graph: bool | None = None,
         create_graph: bool = False, allow_unused: bool = False) -> tuple:
    """``sr.autograd.grad``: the gradients of ``outputs`` w.r.t. ``inputs`` as a tuple of Tensors
    (``None`` for unused inputs when ``allow_unused``), without touching any ``.grad``."""
    if create_graph:
        raise NotImplementedError("create_graph=True (higher-order gradients) is not supported by steprnn")
    Tensor = _tensor_mod.Tensor
    single = isinstance(inputs, Tensor)
    inputs = [inputs] if single else list(inputs)
    roots, grads = _prepare(outputs, grad_outputs)
    results = run_backward(roots, grads, retain_graph=bool(retain_graph), inputs=inputs,
                           allow_unused=allow_unused)
    assert results is not None
    return tuple(None if r is None else _grad_tensor(r, t) for r, t in zip(results, inputs))


def _grad_tensor(g: Any, like: _tensor_mod.Tensor) -> _tensor_mod.Tensor:
    """A gradient as a new Tensor on ``like``'s device."""
    if getattr(like, "is_cuda", False):
        ct = _cuda_mod()
        return ct.CudaTensor._from_host(np.array(_to_host(g), dtype=like._st.dtype, copy=True))
    return _tensor_mod.Tensor._make(np.array(_to_host(g), dtype=like.dtype, copy=True))


def Variable(data: Any, requires_grad: bool = False, volatile: bool = False) -> _tensor_mod.Tensor:  # noqa: N802
    """``autograd.Variable(t)``, PyTorch's old wrapper, is the tensor itself (as in PyTorch since 0.4);
    ``requires_grad=True`` switches gradients on for it. Arrays and lists become tensors."""
    Tensor = _tensor_mod.Tensor
    if not isinstance(data, Tensor):
        from .creation import tensor
        data = tensor(data)
    if requires_grad:
        data.requires_grad_(True)
    return data
