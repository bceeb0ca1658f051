import pytest

from dann_demo import RunConfig
from dann_demo.method.schedules import lambda_at, lr_at, paper_lambda, paper_lr


# Values worked out by hand (e^-5 = 0.0067379, e^-10 = 4.54e-5; 6^0.75 = 3.8337, 11^0.75 = 6.0401), not
# by the implementation's own formula.
@pytest.mark.parametrize(("p", "expected"), [(0.0, 0.0), (0.1, 0.46212), (0.5, 0.98661), (1.0, 0.99991)])
def test_paper_lambda_values_by_hand(p, expected):
    assert paper_lambda(p) == pytest.approx(expected, abs=1e-5)
    assert paper_lambda(p, gamma=0.0) == 0.0  # gamma 0: lambda stays 0


@pytest.mark.parametrize(("p", "expected"), [(0.0, 0.01), (0.5, 0.0026085), (1.0, 0.0016556)])
def test_paper_lr_values_by_hand(p, expected):
    assert paper_lr(p) == pytest.approx(expected, abs=5e-8)
    assert paper_lr(p, alpha=0.0) == 0.01  # alpha 0: no decay


def test_config_schedules():
    c = RunConfig(lambda_schedule="constant", lambda_value=0.3, lr=0.02)
    assert lambda_at(c, 0.7) == 0.3
    assert lambda_at(c, 0.7, constant=1.5) == 1.5
    assert lr_at(c, 0.0) == pytest.approx(0.02)
    paper = RunConfig(lambda_schedule="paper", lambda_value=2.0, gamma=10.0)
    assert lambda_at(paper, 0.5) == pytest.approx(1.97323, abs=1e-5)  # the ceiling 2 times 0.98661
