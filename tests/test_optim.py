"""sr.optim (SGD, Adam) and gradient clipping against torch, step for step in float64."""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import steprnn as sr
import steprnn.nn as nn
import steprnn.nn.functional as F
from steprnn.nn.utils import clip_grad_norm_, clip_grad_value_
from steprnn.optim import optimizer as optimizer_module

TOL = 1e-12
SHAPES = [(3, 4), (4,), (2, 2, 3)]
#: the optimisers' twins: two more above ``optimizer.COMPILED_FROM`` elements, where a step is one compiled loop
OPT_SHAPES = SHAPES + [(9, 11), (130,)]


def same_error(torch_call, sr_call):
    with pytest.raises(Exception) as te:
        torch_call()
    with pytest.raises(Exception) as se:
        sr_call()
    assert type(se.value) is type(te.value), f"{type(se.value).__name__}: {se.value} vs {te.value}"
    assert str(se.value) == str(te.value)


def twin_params(shapes=OPT_SHAPES, seed=0):
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(s) for s in shapes]
    tp = [torch.nn.Parameter(torch.from_numpy(a.copy())) for a in arrays]
    sp = [nn.Parameter(a.copy()) for a in arrays]
    return tp, sp


def assert_params_equal(tp, sp, what="", tol=TOL):
    for i, (a, b) in enumerate(zip(tp, sp)):
        np.testing.assert_allclose(b.data, a.detach().numpy(), rtol=tol, atol=tol, err_msg=f"{what} param {i}")


def set_grads(tp, sp, rng, skip=()):
    """The same gradient for both twins: noise plus the parameter (so the sequence depends on the path)."""
    for i, (a, b) in enumerate(zip(tp, sp)):
        if i in skip:
            a.grad, b.grad = None, None
            continue
        noise = rng.standard_normal(a.shape)
        a.grad = torch.from_numpy(noise + a.detach().numpy())
        b.grad = sr.tensor(noise + b.data)


def run_twins(t_opt, s_opt, tp, sp, steps=25, seed=1, skip_every=None, tol=TOL):
    rng = np.random.default_rng(seed)
    for k in range(steps):
        skip = (k % len(tp),) if skip_every and k % skip_every == 0 else ()
        set_grads(tp, sp, rng, skip)
        t_opt.step()
        s_opt.step()
        assert_params_equal(tp, sp, f"step {k}", tol=tol)


SGD_CONFIGS = [
    dict(),
    dict(lr=0.1),
    dict(lr=0.1, momentum=0.9),
    dict(lr=0.05, momentum=0.9, dampening=0.3),
    dict(lr=0.05, momentum=0.9, nesterov=True),
    dict(lr=0.1, weight_decay=0.1),
    dict(lr=0.1, maximize=True),
    dict(lr=0.02, momentum=0.5, weight_decay=0.01, nesterov=True, maximize=True),
]
ADAM_CONFIGS = [
    dict(),
    dict(lr=0.01),
    dict(lr=0.01, amsgrad=True),
    dict(lr=0.01, weight_decay=0.1),
    dict(lr=0.01, maximize=True),
    dict(lr=0.01, betas=(0.5, 0.9), eps=1e-6),
    dict(lr=0.01, betas=(0.3, 0.99)),  # 1 - beta1 >= 0.5: lerp's second branch
    dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True),
    dict(lr=0.03, amsgrad=True, weight_decay=0.05, maximize=True, betas=(0.8, 0.95)),
]


@pytest.mark.parametrize("kwargs", SGD_CONFIGS, ids=str)
def test_sgd_matches_torch_step_for_step(kwargs):
    tp, sp = twin_params()
    run_twins(torch.optim.SGD(tp, **kwargs), sr.optim.SGD(sp, **kwargs), tp, sp)


@pytest.mark.parametrize("kwargs", ADAM_CONFIGS, ids=str)
def test_adam_matches_torch_step_for_step(kwargs):
    tp, sp = twin_params()
    run_twins(torch.optim.Adam(tp, **kwargs), sr.optim.Adam(sp, **kwargs), tp, sp)


@pytest.mark.parametrize("name,kwargs", [("SGD", dict(lr=0.1, momentum=0.9, weight_decay=0.01)),
                                         ("Adam", dict(lr=0.01, amsgrad=True, weight_decay=0.01))])
def test_float32_parameters_stay_float32_and_track_torch(name, kwargs):
    tp, sp = twin_params()
    tp = [torch.nn.Parameter(p.detach().float()) for p in tp]
    sp = [nn.Parameter(p.data.float()) for p in sp]
    t_opt, s_opt = getattr(torch.optim, name)(tp, **kwargs), getattr(sr.optim, name)(sp, **kwargs)
    rng = np.random.default_rng(2)
    for _ in range(20):
        for a, b in zip(tp, sp):
            g = rng.standard_normal(a.shape).astype(np.float32)
            a.grad, b.grad = torch.from_numpy(g.copy()), sr.tensor(g.copy())
        t_opt.step()
        s_opt.step()
    for a, b in zip(tp, sp):
        assert b.dtype == sr.float32
        for value in s_opt.state[b].values():
            assert value.dtype in (sr.float32,)
        np.testing.assert_allclose(b.data, a.detach().numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name,kwargs", [("SGD", dict(lr=0.1, momentum=0.9)), ("Adam", dict(lr=0.01))])
def test_params_without_grad_are_skipped_like_torch(name, kwargs):
    tp, sp = twin_params()
    t_opt, s_opt = getattr(torch.optim, name)(tp, **kwargs), getattr(sr.optim, name)(sp, **kwargs)
    run_twins(t_opt, s_opt, tp, sp, steps=24, skip_every=2)
    for a, b in zip(tp, sp):
        assert sorted(s_opt.state[b]) == sorted(t_opt.state[a])
        for key, value in t_opt.state[a].items():
            np.testing.assert_allclose(s_opt.state[b][key].data, value.numpy(), rtol=TOL, atol=TOL)


@pytest.mark.parametrize("name", ["SGD", "Adam"])
def test_param_groups_with_their_own_options(name):
    tp, sp = twin_params()
    extra = dict(momentum=0.9) if name == "SGD" else dict(betas=(0.7, 0.9))

    def groups(ps):
        return [{"params": ps[:2]}, {"params": ps[2:], "lr": 0.3, **extra}]

    t_opt = getattr(torch.optim, name)(groups(tp), lr=0.01)
    s_opt = getattr(sr.optim, name)(groups(sp), lr=0.01)
    assert s_opt.param_groups[0]["lr"] == 0.01 and s_opt.param_groups[1]["lr"] == 0.3
    run_twins(t_opt, s_opt, tp, sp)
    assert repr(s_opt) == repr(t_opt)


def test_add_param_group_and_lr_change_mid_run():
    tp, sp = twin_params()
    t_opt, s_opt = torch.optim.SGD(tp[:1], lr=0.1), sr.optim.SGD(sp[:1], lr=0.1)
    t_opt.add_param_group({"params": tp[1:], "momentum": 0.5})
    s_opt.add_param_group({"params": sp[1:], "momentum": 0.5})
    run_twins(t_opt, s_opt, tp, sp, steps=5)
    for t_group, s_group in zip(t_opt.param_groups, s_opt.param_groups):
        t_group["lr"] *= 0.5
        s_group["lr"] *= 0.5
    run_twins(t_opt, s_opt, tp, sp, steps=5, seed=9)


def test_zero_grad():
    _, sp = twin_params()
    opt = sr.optim.SGD(sp, lr=0.1)
    for p in sp:
        p.grad = sr.ones(*p.shape, dtype=sr.float64)
    grads = [p.grad for p in sp]
    opt.zero_grad(set_to_none=False)
    for p, g in zip(sp, grads):
        assert p.grad is g and np.all(p.grad.data == 0)
    opt.zero_grad()
    assert all(p.grad is None for p in sp)
    before = [p.detach().numpy().copy() for p in sp]
    opt.step()  # no gradients: nothing moves
    for p, b in zip(sp, before):
        np.testing.assert_array_equal(p.data, b)


def test_zero_grad_then_backward_accumulates_fresh():
    x = sr.tensor([1.0, 2.0], dtype=sr.float64)
    w = nn.Parameter(np.array([0.5, -1.0]))
    opt = sr.optim.SGD([w], lr=0.1)
    for _ in range(3):
        opt.zero_grad()
        (w * x).sum().backward()
        np.testing.assert_array_equal(w.grad.data, x.data)


@pytest.mark.parametrize("name,kwargs", [("SGD", dict(lr=0.1, momentum=0.9, nesterov=True)),
                                         ("Adam", dict(lr=0.01, amsgrad=True))])
def test_state_dict_round_trip(name, kwargs):
    _, sp = twin_params()
    sp2 = [nn.Parameter(p.detach().numpy().copy()) for p in sp]
    a = getattr(sr.optim, name)(sp, **kwargs)
    rng = np.random.default_rng(4)
    for _ in range(10):
        for p in sp:
            p.grad = sr.tensor(rng.standard_normal(p.shape))
        a.step()
    for p2, p in zip(sp2, sp):
        p2.data[...] = p.data
    b = getattr(sr.optim, name)(sp2, lr=123.0)
    b.load_state_dict(a.state_dict())
    assert b.param_groups[0]["lr"] == kwargs["lr"] and b.param_groups[0]["params"][0] is sp2[0]
    for _ in range(10):
        for p, p2 in zip(sp, sp2):
            g = rng.standard_normal(p.shape)
            p.grad, p2.grad = sr.tensor(g), sr.tensor(g.copy())
        a.step()
        b.step()
    for p, p2 in zip(sp, sp2):
        np.testing.assert_array_equal(p.data, p2.data)


@pytest.mark.parametrize("name,kwargs", [("SGD", dict(lr=0.1, momentum=0.9)), ("Adam", dict(lr=0.01))])
def test_state_dict_layout_equals_torch_and_torch_state_loads(name, kwargs):
    tp, sp = twin_params()
    t_opt, s_opt = getattr(torch.optim, name)(tp, **kwargs), getattr(sr.optim, name)(sp, **kwargs)
    run_twins(t_opt, s_opt, tp, sp, steps=5)
    t_sd, s_sd = t_opt.state_dict(), s_opt.state_dict()
    assert s_sd["param_groups"] == t_sd["param_groups"]
    assert list(s_sd["state"]) == list(t_sd["state"])
    for k in t_sd["state"]:
        assert list(s_sd["state"][k]) == list(t_sd["state"][k])
        for key, value in t_sd["state"][k].items():
            assert s_sd["state"][k][key].dtype == value.numpy().dtype
            np.testing.assert_allclose(s_sd["state"][k][key].data, value.numpy(), rtol=TOL, atol=TOL)
    # a fresh steprnn optimiser that loads torch's state dict continues exactly as torch does
    sp2 = [nn.Parameter(p.detach().numpy().copy()) for p in tp]
    s_opt2 = getattr(sr.optim, name)(sp2)
    s_opt2.load_state_dict(copy.deepcopy(t_sd))
    run_twins(t_opt, s_opt2, tp, sp2, steps=10, seed=5)


def test_load_state_dict_bad_input():
    tp, sp = twin_params()
    t_opt, s_opt = torch.optim.SGD(tp), sr.optim.SGD(sp)
    t_two = torch.optim.SGD([{"params": tp[:1]}, {"params": tp[1:]}])
    s_two = sr.optim.SGD([{"params": sp[:1]}, {"params": sp[1:]}])
    same_error(lambda: t_opt.load_state_dict(t_two.state_dict()), lambda: s_opt.load_state_dict(s_two.state_dict()))
    t_short, s_short = torch.optim.SGD(tp[:2]), sr.optim.SGD(sp[:2])
    same_error(lambda: t_opt.load_state_dict(t_short.state_dict()),
               lambda: s_opt.load_state_dict(s_short.state_dict()))
    with pytest.raises(TypeError, match="state_dict"):
        s_opt.load_state_dict([1, 2])


SGD_BAD = [dict(lr=-1), dict(lr=-0.5), dict(momentum=-1), dict(weight_decay=-1), dict(nesterov=True),
           dict(momentum=0.9, dampening=0.1, nesterov=True)]
ADAM_BAD = [dict(lr=-1.0), dict(eps=-1), dict(betas=(1.0, 0.9)), dict(betas=(0.9, -0.1)), dict(weight_decay=-1),
            dict(betas=(0, 0.9))]


@pytest.mark.parametrize("kwargs", SGD_BAD, ids=str)
def test_sgd_validation_messages(kwargs):
    tp, sp = twin_params()
    same_error(lambda: torch.optim.SGD(tp, **kwargs), lambda: sr.optim.SGD(sp, **kwargs))


@pytest.mark.parametrize("kwargs", ADAM_BAD, ids=str)
def test_adam_validation_messages(kwargs):
    tp, sp = twin_params()
    same_error(lambda: torch.optim.Adam(tp, **kwargs), lambda: sr.optim.Adam(sp, **kwargs))


def test_optimizer_params_validation():
    tp, sp = twin_params()
    same_error(lambda: torch.optim.SGD([]), lambda: sr.optim.SGD([]))
    same_error(lambda: torch.optim.SGD(3), lambda: sr.optim.SGD(3))
    same_error(lambda: torch.optim.SGD([1]), lambda: sr.optim.SGD([1]))
    same_error(lambda: torch.optim.SGD([{"params": tp}, {"params": tp[:1]}]),
               lambda: sr.optim.SGD([{"params": sp}, {"params": sp[:1]}]))
    same_error(lambda: torch.optim.SGD([tp[0] * 2]), lambda: sr.optim.SGD([sp[0] * 2]))
    same_error(lambda: torch.optim.SGD([{"params": set(tp[:1])}]), lambda: sr.optim.SGD([{"params": set(sp[:1])}]))
    with pytest.raises(TypeError, match="should be an iterable of Tensors or dicts"):
        sr.optim.SGD(sp[0])


def test_unsupported_flags_are_refused():
    _, sp = twin_params()
    for kwargs in (dict(fused=True), dict(differentiable=True)):
        with pytest.raises(NotImplementedError):
            sr.optim.Adam(sp, **kwargs)
        with pytest.raises(NotImplementedError):
            sr.optim.SGD(sp, **kwargs)
    with pytest.raises(NotImplementedError):
        sr.optim.Adam(sp, capturable=True)


def test_step_with_closure_returns_the_loss_and_runs_with_grad():
    w = nn.Parameter(np.array([1.0, -2.0]))
    opt = sr.optim.SGD([w], lr=0.1)

    def closure():
        opt.zero_grad()
        loss = (w * w).sum()
        loss.backward()
        return loss

    with sr.no_grad():
        loss = opt.step(closure)
    assert loss.item() == 5.0
    np.testing.assert_allclose(w.data, [0.8, -1.6])


def test_step_is_an_inplace_change_that_invalidates_saved_graphs():
    # as torch: a graph that saved the parameter cannot be backpropagated after the update
    tw = torch.nn.Parameter(torch.tensor([1.0, 2.0], dtype=torch.float64))
    sw = nn.Parameter(np.array([1.0, 2.0]))
    t_loss, s_loss = (tw * tw).sum(), (sw * sw).sum()
    tw.grad, sw.grad = torch.ones(2, dtype=torch.float64), sr.ones(2, dtype=sr.float64)
    torch.optim.SGD([tw], lr=0.1).step()
    sr.optim.SGD([sw], lr=0.1).step()
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        t_loss.backward()
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        s_loss.backward()
    assert sw.requires_grad and sw.is_leaf


# --- gradient clipping -----------------------------------------------------------------------

def twin_grads(seed=0, scale=1.0, shapes=SHAPES, dtypes=None):
    tp, sp = twin_params(shapes, seed)
    rng = np.random.default_rng(seed + 100)
    for i, (a, b) in enumerate(zip(tp, sp)):
        g = rng.standard_normal(a.shape) * scale
        if dtypes is not None:
            a.data, b.data = a.data.to(dtypes[i][0]), b.detach().numpy().astype(dtypes[i][1])
            g = g.astype(dtypes[i][1])
        a.grad, b.grad = torch.from_numpy(g.copy()), sr.tensor(g.copy())
    return tp, sp


@pytest.mark.parametrize("norm_type", [2.0, 1, 3.5, 0.5, float("inf"), "inf", 0, -float("inf")], ids=str)
@pytest.mark.parametrize("max_norm", [0.1, 1e3])
def test_clip_grad_norm_matches_torch(norm_type, max_norm):
    tp, sp = twin_grads()
    t_total = torch.nn.utils.clip_grad_norm_(tp, max_norm, norm_type)
    s_total = clip_grad_norm_(sp, max_norm, norm_type)
    assert isinstance(s_total, sr.Tensor) and s_total.shape == ()
    assert s_total.dtype == t_total.numpy().dtype
    np.testing.assert_allclose(s_total.item(), t_total.item(), rtol=TOL, atol=TOL)
    for a, b in zip(tp, sp):
        np.testing.assert_allclose(b.grad.data, a.grad.numpy(), rtol=TOL, atol=TOL)


def test_clip_grad_norm_scales_to_max_norm():
    _, sp = twin_grads(scale=10.0)
    clip_grad_norm_(sp, 1.0)
    total = np.sqrt(sum(np.sum(p.grad.numpy() ** 2) for p in sp))
    np.testing.assert_allclose(total, 1.0, rtol=1e-5)


def test_clip_grad_norm_special_cases():
    tp, sp = twin_grads()
    tp[1].grad, sp[1].grad = None, None  # params without grad are skipped
    np.testing.assert_allclose(clip_grad_norm_(sp, 0.5).item(), torch.nn.utils.clip_grad_norm_(tp, 0.5).item(),
                               rtol=TOL)
    np.testing.assert_allclose(clip_grad_norm_(sp[0], 0.1).item(),
                               torch.nn.utils.clip_grad_norm_(tp[0], 0.1).item(), rtol=TOL)
    empty = clip_grad_norm_([], 1.0)
    assert empty.item() == 0.0 and empty.dtype == sr.float32
    with pytest.warns(UserWarning, match="empty generator"):
        clip_grad_norm_((p for p in []), 1.0)


def test_clip_grad_norm_mixed_dtypes():
    dtypes = [(torch.float32, np.float32), (torch.float64, np.float64), (torch.float32, np.float32)]
    tp, sp = twin_grads(dtypes=dtypes)
    t_total = torch.nn.utils.clip_grad_norm_(tp, 0.3)
    s_total = clip_grad_norm_(sp, 0.3)
    assert s_total.dtype == t_total.numpy().dtype
    np.testing.assert_allclose(s_total.item(), t_total.item(), rtol=1e-6)
    for a, b in zip(tp, sp):
        assert b.grad.dtype == a.grad.numpy().dtype
        np.testing.assert_allclose(b.grad.data, a.grad.numpy(), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("bad", [float("inf"), float("nan")])
def test_clip_grad_norm_nonfinite(bad):
    tp, sp = twin_grads()
    tp[0].grad[0, 0] = bad
    sp[0].grad.data[0, 0] = bad
    same_error(lambda: torch.nn.utils.clip_grad_norm_(tp, 1.0, error_if_nonfinite=True),
               lambda: clip_grad_norm_(sp, 1.0, error_if_nonfinite=True))
    t_total = torch.nn.utils.clip_grad_norm_(tp, 1.0)
    s_total = clip_grad_norm_(sp, 1.0)
    np.testing.assert_array_equal(s_total.data, t_total.numpy())
    for a, b in zip(tp, sp):
        np.testing.assert_array_equal(b.grad.data, a.grad.numpy())


def test_clip_grad_value_matches_torch():
    tp, sp = twin_grads(scale=3.0)
    tp[2].grad[0, 0, 0] = float("nan")
    sp[2].grad.data[0, 0, 0] = float("nan")
    assert torch.nn.utils.clip_grad_value_(tp, 0.7) is None
    assert clip_grad_value_(sp, 0.7) is None
    for a, b in zip(tp, sp):
        np.testing.assert_array_equal(b.grad.data, a.grad.numpy())
    assert np.nanmax(np.abs(sp[0].grad.data)) <= 0.7


# --- training end to end ---------------------------------------------------------------------

def twin_classifier(seed=0):
    torch.manual_seed(seed)
    t = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3)).double()
    s = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 3)).double()
    s.load_state_dict(t.state_dict())
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((64, 4))
    y = (x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 0.5).astype(np.int64)
    return t, s, x, y


def test_mlp_classifier_with_adam_tracks_torchs_loss_curve():
    t, s, x, y = twin_classifier()
    t_opt, s_opt = torch.optim.Adam(t.parameters(), lr=0.01), sr.optim.Adam(s.parameters(), lr=0.01)
    t_loss_fn, s_loss_fn = torch.nn.CrossEntropyLoss(), nn.CrossEntropyLoss()
    tx, ty, sx, sy = torch.from_numpy(x), torch.from_numpy(y), sr.tensor(x), sr.tensor(y)
    t_curve, s_curve = [], []
    for _ in range(50):
        t_opt.zero_grad()
        s_opt.zero_grad()
        t_loss = t_loss_fn(t(tx), ty)
        s_loss = s_loss_fn(s(sx), sy)
        t_loss.backward()
        s_loss.backward()
        t_opt.step()
        s_opt.step()
        t_curve.append(t_loss.item())
        s_curve.append(s_loss.item())
    np.testing.assert_allclose(s_curve, t_curve, rtol=0, atol=1e-8)
    assert s_curve[-1] < 0.6 * s_curve[0]  # it learned
    for (name, a), (_, b) in zip(t.named_parameters(), s.named_parameters()):
        np.testing.assert_allclose(b.data, a.detach().numpy(), rtol=0, atol=1e-8, err_msg=name)


def test_mlp_with_sgd_nesterov_clipping_and_smoothing_tracks_torch():
    t, s, x, y = twin_classifier(seed=3)
    kwargs = dict(lr=0.2, momentum=0.9, nesterov=True, weight_decay=1e-3)
    t_opt, s_opt = torch.optim.SGD(t.parameters(), **kwargs), sr.optim.SGD(s.parameters(), **kwargs)
    tx, ty, sx, sy = torch.from_numpy(x), torch.from_numpy(y), sr.tensor(x), sr.tensor(y)
    for step in range(50):
        t_opt.zero_grad()
        s_opt.zero_grad()
        t_loss = torch.nn.functional.cross_entropy(t(tx), ty, label_smoothing=0.1)
        s_loss = F.cross_entropy(s(sx), sy, label_smoothing=0.1)
        t_loss.backward()
        s_loss.backward()
        t_norm = torch.nn.utils.clip_grad_norm_(t.parameters(), 0.5)
        s_norm = clip_grad_norm_(s.parameters(), 0.5)
        t_opt.step()
        s_opt.step()
        assert abs(s_loss.item() - t_loss.item()) < 1e-8, step
        assert abs(s_norm.item() - t_norm.item()) < 1e-8, step


# --- AdamW, Adadelta, LBFGS and the learning-rate schedulers ------------------------------------------

ADAMW_CONFIGS = [dict(), dict(lr=0.01), dict(lr=0.01, weight_decay=0.3, amsgrad=True),
                 dict(lr=0.02, betas=(0.5, 0.9), maximize=True)]
ADADELTA_CONFIGS = [dict(), dict(lr=0.5, rho=0.8), dict(lr=1.0, eps=1e-4, weight_decay=0.1),
                    dict(lr=0.3, maximize=True)]


@pytest.mark.parametrize("kwargs", ADAMW_CONFIGS, ids=str)
def test_adamw_matches_torch_step_for_step(kwargs):
    tp, sp = twin_params()
    run_twins(torch.optim.AdamW(tp, **kwargs), sr.optim.AdamW(sp, **kwargs), tp, sp, skip_every=4)


@pytest.mark.parametrize("kwargs", ADADELTA_CONFIGS, ids=str)
def test_adadelta_matches_torch_step_for_step(kwargs):
    tp, sp = twin_params()
    run_twins(torch.optim.Adadelta(tp, **kwargs), sr.optim.Adadelta(sp, **kwargs), tp, sp, skip_every=5)


@pytest.mark.parametrize("name,kwargs", [("AdamW", dict(lr=0.01)), ("Adadelta", dict())])
def test_new_optimisers_float32_and_state_dicts(name, kwargs):
    tp, sp = twin_params()
    tp = [torch.nn.Parameter(p.detach().float()) for p in tp]
    sp = [nn.Parameter(p.detach().numpy().astype(np.float32)) for p in sp]
    t_opt, s_opt = getattr(torch.optim, name)(tp, **kwargs), getattr(sr.optim, name)(sp, **kwargs)
    rng = np.random.default_rng(2)
    for k in range(10):
        for a, b in zip(tp, sp):
            g = rng.standard_normal(a.shape).astype(np.float32)
            a.grad, b.grad = torch.from_numpy(g.copy()), sr.tensor(g.copy())
        t_opt.step()
        s_opt.step()
        assert_params_equal(tp, sp, f"float32 step {k}", tol=1e-5)
    assert all(p.dtype == np.float32 for p in sp)
    fresh = getattr(sr.optim, name)(sp, **kwargs)
    fresh.load_state_dict(t_opt.state_dict())
    assert set(fresh.state_dict()["state"][0]) == set(t_opt.state_dict()["state"][0])


def test_adadelta_validation_messages():
    for kw in (dict(lr=-1.0), dict(rho=1.5), dict(eps=-1.0), dict(weight_decay=-1.0)):
        tp, sp = twin_params()
        same_error(lambda: torch.optim.Adadelta(tp, **kw), lambda: sr.optim.Adadelta(sp, **kw))


def sine_closure_twins(dtype=np.float64, seed=0):
    """The classic LSTM sine-wave example: an LSTMCell and a Linear fitted to the next value by LBFGS."""
    t = np.linspace(0, 2 * np.pi, 9)
    x = np.stack([np.sin(t + k) for k in range(3)]).astype(dtype)[:, :, None]  # (batch, time, 1)
    torch.manual_seed(seed)
    t_cell, t_lin = torch.nn.LSTMCell(1, 6).to(torch.float64 if dtype == np.float64 else torch.float32), None
    t_lin = torch.nn.Linear(6, 1).to(t_cell.weight_ih.dtype)
    s_cell, s_lin = nn.LSTMCell(1, 6, dtype=dtype), nn.Linear(6, 1, dtype=dtype)
    s_cell.load_state_dict(t_cell.state_dict())
    s_lin.load_state_dict(t_lin.state_dict())

    def run(cell, lin, lib, tensor):
        h = lib.zeros(3, 6, dtype=tensor.dtype)
        c = lib.zeros(3, 6, dtype=tensor.dtype)
        outs = []
        for k in range(tensor.shape[1] - 1):
            h, c = cell(tensor[:, k], (h, c))
            outs.append(lin(h))
        pred = lib.stack(outs, 1)
        return ((pred - tensor[:, 1:]) ** 2).mean()

    return (t_cell, t_lin, lambda: run(t_cell, t_lin, torch, torch.from_numpy(x)),
            s_cell, s_lin, lambda: run(s_cell, s_lin, sr, sr.tensor(x)))


@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_lbfgs_matches_torch_on_a_nonconvex_function(line_search_fn, dtype):
    tp, sp = twin_params(SHAPES)  # 28 numbers: A below is (28, 28)
    tp = [torch.nn.Parameter(p.detach().to(torch.float64 if dtype == np.float64 else torch.float32)) for p in tp]
    sp = [nn.Parameter(p.detach().numpy().astype(dtype)) for p in sp]
    A = (np.random.default_rng(3).standard_normal((28, 28)) * 0.3).astype(dtype)
    kw = dict(lr=0.8, line_search_fn=line_search_fn, history_size=5, max_iter=15 if dtype == np.float64 else 3)
    t_opt, s_opt = torch.optim.LBFGS(tp, **kw), sr.optim.LBFGS(sp, **kw)

    def t_closure():
        t_opt.zero_grad()
        x = torch.cat([p.reshape(-1) for p in tp])
        loss = ((torch.from_numpy(A) @ x - 1).tanh() ** 2).sum() + (x ** 4).sum() * 0.1
        loss.backward()
        return loss

    def s_closure():
        s_opt.zero_grad()
        x = sr.cat([p.reshape(-1) for p in sp])
        loss = ((sr.tensor(A) @ x - 1).tanh() ** 2).sum() + (x ** 4).sum() * 0.1
        loss.backward()
        return loss

    tol = 1e-10 if dtype == np.float64 else 1e-4
    for step in range(3):
        t_opt.step(t_closure)
        s_opt.step(s_closure)
        assert_params_equal(tp, sp, f"step {step}", tol=tol)
    if dtype == np.float64:
        assert s_opt.state[sp[0]]["func_evals"] == t_opt.state[tp[0]]["func_evals"]


@pytest.mark.slow
@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
def test_lbfgs_on_the_lstm_sine_example_matches_torch(line_search_fn):
    t_cell, t_lin, t_loss, s_cell, s_lin, s_loss = sine_closure_twins()
    t_params = list(t_cell.parameters()) + list(t_lin.parameters())
    s_params = list(s_cell.parameters()) + list(s_lin.parameters())
    kw = dict(lr=0.8, max_iter=4, history_size=3, line_search_fn=line_search_fn)
    t_opt, s_opt = torch.optim.LBFGS(t_params, **kw), sr.optim.LBFGS(s_params, **kw)

    def t_closure():
        t_opt.zero_grad()
        loss = t_loss()
        loss.backward()
        return loss

    def s_closure():
        s_opt.zero_grad()
        loss = s_loss()
        loss.backward()
        return loss

    for step in range(2):
        lt, ls = t_opt.step(t_closure), s_opt.step(s_closure)
        assert abs(lt.item() - ls.item()) < 1e-9, f"step {step}: loss {float(ls)} vs torch's {float(lt)}"
        assert_params_equal(t_params, s_params, f"step {step}", tol=1e-8)
    t_state, s_state = t_opt.state[t_params[0]], s_opt.state[s_params[0]]
    assert (s_state["func_evals"], s_state["n_iter"]) == (t_state["func_evals"], t_state["n_iter"])


def test_lbfgs_needs_a_closure_and_one_group():
    tp, sp = twin_params()
    opt = sr.optim.LBFGS(sp)
    with pytest.raises(RuntimeError, match="closure"):
        opt.step()
    with pytest.raises(ValueError, match="doesn't support per-parameter options"):
        sr.optim.LBFGS([{"params": sp[:1]}, {"params": sp[1:]}])
    with pytest.raises(RuntimeError, match="only 'strong_wolfe'"):
        sr.optim.LBFGS(sp, line_search_fn="backtracking")


def metric_sequence(n=40, seed=0):
    rng = np.random.default_rng(seed)
    return list(1.0 / (1 + np.arange(n)) + 0.3 * rng.random(n))


SCHEDULERS = [
    ("StepLR", dict(step_size=3, gamma=0.5)),
    ("MultiStepLR", dict(milestones=[2, 5, 5, 9], gamma=0.3)),
    ("ExponentialLR", dict(gamma=0.9)),
    ("CosineAnnealingLR", dict(T_max=7, eta_min=0.001)),
    ("LambdaLR", dict(lr_lambda=lambda epoch: 0.95 ** epoch + 0.01 * epoch)),
    ("MultiplicativeLR", dict(lr_lambda=lambda epoch: 0.97)),
]


@pytest.mark.parametrize("name,kwargs", SCHEDULERS, ids=lambda v: v if isinstance(v, str) else "")
def test_schedulers_set_torchs_learning_rates(name, kwargs):
    tp, sp = twin_params()
    t_opt = torch.optim.SGD([{"params": tp[:1]}, {"params": tp[1:], "lr": 0.05}], lr=0.1, momentum=0.9)
    s_opt = sr.optim.SGD([{"params": sp[:1]}, {"params": sp[1:], "lr": 0.05}], lr=0.1, momentum=0.9)
    t_sched = getattr(torch.optim.lr_scheduler, name)(t_opt, **kwargs)
    s_sched = getattr(sr.optim.lr_scheduler, name)(s_opt, **kwargs)
    rng = np.random.default_rng(3)
    for epoch in range(25):
        assert s_sched.get_last_lr() == t_sched.get_last_lr(), f"epoch {epoch}"
        set_grads(tp, sp, rng)
        t_opt.step()
        s_opt.step()
        t_sched.step()
        s_sched.step()
    assert_params_equal(tp, sp, name, tol=1e-12)
    assert s_sched.last_epoch == t_sched.last_epoch


@pytest.mark.parametrize("kwargs", [dict(), dict(mode="max", factor=0.5, patience=2, threshold_mode="abs"),
                                    dict(patience=1, cooldown=2, min_lr=0.02), dict(patience=0, eps=0.05)], ids=str)
def test_reduce_lr_on_plateau_matches_torch(kwargs):
    tp, sp = twin_params()
    t_opt, s_opt = torch.optim.Adam(tp, lr=0.1), sr.optim.Adam(sp, lr=0.1)
    t_sched = torch.optim.lr_scheduler.ReduceLROnPlateau(t_opt, **kwargs)
    s_sched = sr.optim.lr_scheduler.ReduceLROnPlateau(s_opt, **kwargs)
    for k, metric in enumerate(metric_sequence()):
        t_sched.step(metric)
        s_sched.step(sr.tensor(metric))
        assert s_opt.param_groups[0]["lr"] == t_opt.param_groups[0]["lr"], f"epoch {k}"
        assert s_sched.get_last_lr() == t_sched.get_last_lr()
    with pytest.raises(ValueError, match="Factor should be < 1.0."):
        sr.optim.lr_scheduler.ReduceLROnPlateau(s_opt, factor=1.0)


def test_scheduler_state_dict_and_resume():
    tp, sp = twin_params()
    s_opt = sr.optim.SGD(sp, lr=0.1)
    sched = sr.optim.lr_scheduler.StepLR(s_opt, step_size=2, gamma=0.5)
    for _ in range(3):
        sched.step()
    state = sched.state_dict()
    assert "optimizer" not in state and state["last_epoch"] == 3
    other = sr.optim.lr_scheduler.StepLR(sr.optim.SGD(sp, lr=0.1), step_size=9)
    other.load_state_dict(state)
    assert other.step_size == 2 and other.last_epoch == 3
    with pytest.raises(TypeError, match="is not an Optimizer"):
        sr.optim.lr_scheduler.ExponentialLR(object(), gamma=0.9)
    with pytest.raises(KeyError, match="initial_lr"):
        sr.optim.lr_scheduler.StepLR(sr.optim.SGD(twin_params()[1], lr=0.1), step_size=2, last_epoch=4)


# --- the compiled update loops: the same bits as the NumPy code -------------------------------------

def assert_compiled_gives_numpy_bits(make_opt, loop_name, start, grads, strided):
    """Run ``make_opt([p])`` over ``grads`` twice, through the compiled loop ``loop_name`` of
    ``kernels.cpu.optim_steps`` and through the NumPy path (``COMPILED_FROM`` above p's size):
    parameter and state end with the same bits, NaN for NaN (a NaN's sign is left to the compiler:
    -g + x may become x - g); the caller's gradients are left alone; the loop ran once per step."""
    from steprnn.kernels.cpu import optim_steps

    calls = []
    loop = getattr(optim_steps, loop_name)
    results = []
    for compiled_from in (optimizer_module.COMPILED_FROM, start.size + 1):
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(optim_steps, loop_name, lambda *a: calls.append(1) or loop(*a))
            mp.setattr(optimizer_module, "COMPILED_FROM", compiled_from)
            p = nn.Parameter(start.copy())
            opt = make_opt([p])
            for g in grads:
                if strided:  # every other element of a wider array, as a layer's views of one product
                    wide = np.zeros((g.size, 2), g.dtype)
                    wide[:, 0] = g
                    p.grad = sr.from_numpy(wide[:, 0])
                else:
                    p.grad = sr.tensor(g.copy())
                opt.step()
                assert p.grad.numpy().tobytes() == g.tobytes()
        state = opt.state[p]
        results.append([p.detach().numpy()] + [state[k].numpy() for k in sorted(state) if k != "step"])
    assert len(calls) == len(grads)  # the first run went through the loop, the second did not
    assert len(results[0]) == len(results[1])
    for compiled, plain in zip(*results):
        assert compiled.dtype == plain.dtype == start.dtype
        assert np.array_equal(np.isnan(compiled), np.isnan(plain))
        numbers = ~np.isnan(plain)
        assert compiled[numbers].tobytes() == plain[numbers].tobytes()


def _start_and_grads(dtype, n, nan_at, seed):
    rng = np.random.default_rng(seed)
    start = rng.standard_normal(n).astype(dtype)
    grads = [rng.standard_normal(n).astype(dtype) * dtype(10.0 ** rng.integers(-4, 3)) for _ in range(3)]
    if nan_at >= 0:
        grads[1][nan_at] = np.nan
    return start, grads


@settings(max_examples=40, deadline=None)
@given(dtype=st.sampled_from([np.float32, np.float64]), n=st.integers(64, 300), amsgrad=st.booleans(),
       maximize=st.booleans(), weight_decay=st.sampled_from([0.0, 0.05]), decoupled=st.booleans(),
       beta1=st.sampled_from([0.9, 0.5, 0.3]), lr=st.sampled_from([1e-3, 0.05]), nan_at=st.integers(-1, 63),
       strided=st.booleans(), seed=st.integers(0, 2**16))
def test_adam_compiled_step_gives_numpy_bits(dtype, n, amsgrad, maximize, weight_decay, decoupled, beta1, lr,
                                             nan_at, strided, seed):
    """Adam's compiled loop (``adam._fused_step``) in every configuration: AMSGrad, maximize, L2 or
    decoupled decay, β₁ on both of lerp's branches, NaN and strided gradients."""
    start, grads = _start_and_grads(dtype, n, nan_at, seed)
    kw = dict(lr=lr, betas=(beta1, 0.99), amsgrad=amsgrad, maximize=maximize, weight_decay=weight_decay,
              decoupled_weight_decay=decoupled)
    assert_compiled_gives_numpy_bits(lambda ps: sr.optim.Adam(ps, **kw), "adam_update", start, grads, strided)


@settings(max_examples=40, deadline=None)
@given(dtype=st.sampled_from([np.float32, np.float64]), n=st.integers(64, 300), momentum=st.sampled_from([0.0, 0.9]),
       dampening=st.sampled_from([0.0, 0.3]), nesterov=st.booleans(), maximize=st.booleans(),
       weight_decay=st.sampled_from([0.0, 0.05]), lr=st.sampled_from([1e-3, 0.1]), nan_at=st.integers(-1, 63),
       strided=st.booleans(), seed=st.integers(0, 2**16))
def test_sgd_compiled_step_gives_numpy_bits(dtype, n, momentum, dampening, nesterov, maximize, weight_decay, lr,
                                            nan_at, strided, seed):
    """SGD's compiled loop (``sgd._fused_step``) with and without momentum (its first step, which
    makes the buffer, and the later ones), dampening, Nesterov, maximize, weight decay, NaN and
    strided gradients."""
    if nesterov and (momentum == 0 or dampening != 0):
        nesterov = False  # PyTorch refuses that combination
    start, grads = _start_and_grads(dtype, n, nan_at, seed)
    kw = dict(lr=lr, momentum=momentum, dampening=dampening, nesterov=nesterov, maximize=maximize,
              weight_decay=weight_decay)
    assert_compiled_gives_numpy_bits(lambda ps: sr.optim.SGD(ps, **kw), "sgd_update", start, grads, strided)
