"""sr.optim (SGD, Adam) and gradient clipping against torch, step for step in float64."""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

import steprnn as sr
import steprnn.nn as nn
import steprnn.nn.functional as F
from steprnn.nn.utils import clip_grad_norm_, clip_grad_value_

TOL = 1e-12
SHAPES = [(3, 4), (4,), (2, 2, 3)]


def same_error(torch_call, sr_call):
    with pytest.raises(Exception) as te:
        torch_call()
    with pytest.raises(Exception) as se:
        sr_call()
    assert type(se.value) is type(te.value), f"{type(se.value).__name__}: {se.value} vs {te.value}"
    assert str(se.value) == str(te.value)


def twin_params(shapes=SHAPES, seed=0):
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


def run_twins(t_opt, s_opt, tp, sp, steps=25, seed=1, skip_every=None):
    rng = np.random.default_rng(seed)
    for k in range(steps):
        skip = (k % len(tp),) if skip_every and k % skip_every == 0 else ()
        set_grads(tp, sp, rng, skip)
        t_opt.step()
        s_opt.step()
        assert_params_equal(tp, sp, f"step {k}")


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
