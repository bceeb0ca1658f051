import torch

from dann_demo.method.grl import GradientReversal


def test_forward_is_identity():
    grl = GradientReversal(3.0)
    x = torch.randn(4, 5)
    assert torch.equal(grl(x), x)


def test_backward_matches_hand_computed_gradient():
    lam = 0.7
    grl = GradientReversal(lam)
    x = torch.randn(6, 3, requires_grad=True)
    w = torch.randn(6, 3)
    (grl(x) * w).sum().backward()
    # d/dx sum(x * w) = w; the GRL turns it into -lambda * w.
    torch.testing.assert_close(x.grad, -lam * w)


def test_lambda_changes_between_steps_without_rebuilding():
    grl = GradientReversal(1.0)
    x = torch.ones(3, requires_grad=True)
    grl(x).sum().backward()
    torch.testing.assert_close(x.grad, -torch.ones(3))
    x.grad = None
    grl.set_lambda(2.5)
    grl(x).sum().backward()
    torch.testing.assert_close(x.grad, torch.full((3,), -2.5))


def test_signs_for_ablation_and_probe():
    x = torch.ones(2, requires_grad=True)
    GradientReversal(2.0, sign=1.0)(x).sum().backward()
    torch.testing.assert_close(x.grad, torch.full((2,), 2.0))
    assert not GradientReversal(2.0, sign=0.0)(x).requires_grad


def test_backward_is_minus_lambda_times_the_finite_difference_derivative():
    """f(x) = sum(w * sin(GRL(x))) computes sum(w * sin(x)); its true derivative is w * cos(x). By finite
    differences of f (central, in float64) we get that; the GRL's backward must give -lambda times it."""
    lam = 0.3
    x = torch.randn(4, 3, dtype=torch.double)
    w = torch.randn(4, 3, dtype=torch.double)
    grl = GradientReversal(lam).double()

    def f(t: torch.Tensor) -> torch.Tensor:
        return (w * torch.sin(grl(t))).sum()

    eps, numeric = 1e-6, torch.zeros_like(x)
    for i in range(x.numel()):
        step = torch.zeros_like(x).view(-1)
        step[i] = eps
        step = step.view_as(x)
        numeric.view(-1)[i] = (f(x + step) - f(x - step)) / (2 * eps)
    torch.testing.assert_close(numeric, w * torch.cos(x), rtol=1e-6, atol=1e-8)  # the forward is the identity
    xg = x.clone().requires_grad_()
    f(xg).backward()
    torch.testing.assert_close(xg.grad, -lam * numeric, rtol=1e-6, atol=1e-8)


def test_dann_gives_the_feature_extractor_minus_one_times_the_no_reversal_domain_gradient():
    """The assembled network: with lambda 1, the domain loss's gradient on every feature-extractor
    weight under DANN is exactly -1 times its value without the reversal (same seed, same weights)."""
    import torch.nn.functional as F

    from dann_demo import RunConfig
    from dann_demo.method.models import build_model

    x = torch.randn(16, 2)
    domain = torch.cat([torch.zeros(8), torch.ones(8)])
    grads = {}
    for mode in ("dann", "no_reversal"):
        model = build_model(RunConfig(mode=mode), (2,), 2)
        model.grl.set_lambda(1.0)
        _, _, domain_logits = model(x)
        F.binary_cross_entropy_with_logits(domain_logits, domain).backward()
        grads[mode] = {n: p.grad.clone() for n, p in model.feature_extractor.named_parameters()}
        assert all(g.abs().sum() > 0 for g in grads[mode].values())
    for name, g in grads["dann"].items():
        assert torch.equal(g, -grads["no_reversal"][name]), name
