"""The page's sentences follow the numbers: no claim that the numbers do not support."""

from __future__ import annotations

import math

import pytest

from viz.narrative import describe_twin, describe_twins, flow_verdict


@pytest.mark.parametrize(("ratio", "verdict"), [
    (1e-11, "vanishing"), (0.01, "shrinking"), (0.5, "preserved"), (2.7, "preserved"), (10, "preserved"),
    (50, "growing"), (2000, "exploding"), (0.0, "undefined"), (math.nan, "undefined"), (math.inf, "undefined"),
])
def test_verdict_thresholds(ratio: float, verdict: str) -> None:
    assert flow_verdict(ratio) == verdict


def test_sentence_quotes_the_ratio() -> None:
    s = describe_twin("plain", 2e-11)
    assert "vanishes" in s and "2e-11×" in s


def test_batch_norm_plain_net_is_never_said_to_vanish_when_it_grows() -> None:
    lines = describe_twins(2000.0, 8.0, norm="batch")
    text = " ".join(lines)
    assert "explodes" in lines[0] and "vanishes" not in lines[0]
    assert "do not vanish" in text and "unlikely to be caused by vanishing gradients" in text


def test_vanishing_plain_and_preserved_residual_cite_the_identity() -> None:
    text = " ".join(describe_twins(1e-11, 2.7, norm="none"))
    assert "vanishes" in text and "dL/dx = dL/dy (dF/dx + I)" in text
    assert "batch normalisation" not in text


def test_forward_explosion_is_named_only_when_it_happens() -> None:
    assert "forward signal itself explodes" in " ".join(describe_twins(1e-18, 0.2, norm="none",
                                                                       residual_act_growth=3e4))
    assert "forward signal" not in " ".join(describe_twins(1e-18, 0.2, norm="none", residual_act_growth=2.0))
