"""The learning-rate schedule: warm-up, then constant, linear or cosine decay to a floor."""

from __future__ import annotations

import pytest

from motionlora.train.schedule import lr_factor


def test_warmup_then_linear_decay_to_zero():
    factors = [lr_factor(s, warmup_steps=4, total_steps=14, schedule="linear") for s in (0, 1, 2, 3, 9, 14, 20)]
    assert factors[:4] == [0.25, 0.5, 0.75, 1.0]
    assert factors[4] == pytest.approx(0.5) and factors[5:] == [0.0, 0.0]


def test_cosine_and_constant():
    cosine = [lr_factor(s, warmup_steps=0, total_steps=10, schedule="cosine") for s in (0, 5, 10)]
    assert cosine[0] == 1.0 and cosine[1] == pytest.approx(0.5) and cosine[2] == pytest.approx(0.0)
    assert lr_factor(399, warmup_steps=0, total_steps=400, schedule="constant") == 1.0


def test_cosine_to_a_floor_as_the_shapes_pretraining_uses_it():
    """lr 1e-3 falling to 1e-4 after 100 warm-up steps of 3000: the floor is lr_final / lr."""
    def lr(step: int) -> float:
        return 1e-3 * lr_factor(step, warmup_steps=100, total_steps=3000, schedule="cosine", floor=0.1)

    assert lr(0) == pytest.approx(1e-5) and lr(99) == pytest.approx(1e-3)
    assert lr(1550) == pytest.approx(5.5e-4) and lr(3000) == pytest.approx(1e-4) and lr(5000) == pytest.approx(1e-4)
