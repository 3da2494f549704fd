"""Gradient clipping through the optimizer wrapper: the values, and no per-step host work."""
import pytest
import torch

from trainkit.optim.builder import build_optim_wrapper


def one_step(clip_grad):
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 2)
    before = [p.detach().clone() for p in model.parameters()]
    wrapper = build_optim_wrapper(model, dict(optimizer=dict(type='SGD', lr=1.0),
                                              clip_grad=clip_grad))
    x = torch.randn(8, 4)
    loss = model(x).pow(2).sum() * 10
    grads = torch.autograd.grad(loss, list(model.parameters()), retain_graph=True)
    wrapper.update_params(loss)
    steps = [b - p.detach() for b, p in zip(before, model.parameters())]  # lr 1: step = grad
    return wrapper, grads, steps


def test_norm_clipping_scales_the_gradient_to_max_norm():
    wrapper, grads, steps = one_step(dict(max_norm=0.5))
    raw_norm = torch.linalg.vector_norm(torch.stack([g.norm() for g in grads]))
    assert raw_norm > 0.5
    assert torch.linalg.vector_norm(torch.stack([s.norm() for s in steps])) == \
        pytest.approx(0.5, rel=1e-4)
    for grad, step in zip(grads, steps):  # same direction, scaled by max_norm / norm
        torch.testing.assert_close(step, grad * 0.5 / raw_norm, rtol=1e-4, atol=1e-6)
    assert float(wrapper.last_grad_norm) == pytest.approx(float(raw_norm), rel=1e-5)
    assert 'train/grad_norm' not in wrapper.message_hub.log_scalars


def test_value_clipping_clamps_each_component():
    _, grads, steps = one_step(dict(type='value', clip_value=0.1))
    for grad, step in zip(grads, steps):
        torch.testing.assert_close(step, grad.clamp(-0.1, 0.1), rtol=1e-5, atol=1e-7)
    assert any((g.abs() > 0.1).any() for g in grads)
