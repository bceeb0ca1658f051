import math

import pytest

from dann_demo import RunConfig
from dann_demo.schedules import lambda_at, lr_at, paper_lambda, paper_lr


@pytest.mark.parametrize(
    ("p", "expected"), [(0.0, 0.0), (0.5, 2 / (1 + math.exp(-5)) - 1), (1.0, 2 / (1 + math.exp(-10)) - 1)]
)
def test_paper_lambda(p, expected):
    assert paper_lambda(p) == pytest.approx(expected)


def test_paper_lambda_values_by_hand():
    assert paper_lambda(0.5) == pytest.approx(0.98661, abs=1e-5)
    assert paper_lambda(1.0) == pytest.approx(0.99991, abs=1e-5)


@pytest.mark.parametrize(("p", "expected"), [(0.0, 0.01), (0.5, 0.01 / 6**0.75), (1.0, 0.01 / 11**0.75)])
def test_paper_lr(p, expected):
    assert paper_lr(p) == pytest.approx(expected)
    assert paper_lr(1.0) == pytest.approx(0.0016548, abs=1e-6)


def test_config_schedules():
    c = RunConfig(lambda_schedule="constant", lambda_value=0.3, lr=0.02)
    assert lambda_at(c, 0.7) == 0.3
    assert lambda_at(c, 0.7, constant=1.5) == 1.5
    assert lr_at(c, 0.0) == pytest.approx(0.02)
    paper = RunConfig(lambda_schedule="paper", lambda_value=2.0, gamma=10.0)
    assert lambda_at(paper, 0.5) == pytest.approx(2 * paper_lambda(0.5))
