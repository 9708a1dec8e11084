"""Direction-aware Huber: wrong signs cost in proportion to the miss, with a gradient toward the truth."""

import numpy as np
import pytest


def _loss(y, p, **kw):
    from cryptolstm.modelling.losses import direction_aware_huber

    return float(np.asarray(direction_aware_huber(**kw)(np.array([y], "float32"), np.array([p], "float32")))[0])


def _grad(y, p, **kw):
    import tensorflow as tf

    from cryptolstm.modelling.losses import direction_aware_huber

    pv = tf.Variable(np.array([p], "float32"))
    with tf.GradientTape() as tape:
        out = direction_aware_huber(**kw)(tf.constant(np.array([y], "float32")), pv)
    return tape.gradient(out, pv).numpy()[0]


Y = [0.5, 0.5, 0.5, 0.5, 0.5]


def test_bigger_wrong_sign_miss_costs_more():
    small, big = _loss(Y, [-0.1] * 5), _loss(Y, [-1.0] * 5)
    assert big > small > _loss(Y, [0.1] * 5)


def test_wrong_sign_penalty_is_not_a_constant():
    # the extra cost over plain Huber grows with |y * p|: lam * relu(-y * p)
    extra = [_loss(Y, [p] * 5, lam=0.5) - _loss(Y, [p] * 5, lam=0.0) for p in (-0.2, -0.4, -0.8)]
    np.testing.assert_allclose(extra, [0.5 * 0.5 * 0.2, 0.5 * 0.5 * 0.4, 0.5 * 0.5 * 0.8], rtol=1e-5)
    # and vanishes when the signs agree
    assert _loss(Y, [0.2] * 5, lam=0.5) == pytest.approx(_loss(Y, [0.2] * 5, lam=0.0))


def test_gradient_points_toward_the_right_value():
    g = _grad(Y, [-0.6] * 5)
    assert (g < 0).all()  # descending the loss raises p toward y = +0.5
    g_plain = _grad(Y, [-0.6] * 5, lam=0.0)
    assert (np.abs(g) > np.abs(g_plain)).all()  # the direction term adds to the pull
    g_over = _grad(Y, [2.0] * 5)
    assert (g_over > 0).all()  # right sign, too big: pulled back down by Huber


def test_huber_part_is_linear_beyond_delta():
    a, b = _loss([0.0] * 5, [3.0] * 5, delta=1.0, lam=0.0), _loss([0.0] * 5, [4.0] * 5, delta=1.0, lam=0.0)
    assert b - a == pytest.approx(1.0, rel=1e-5)


def test_horizon_weights():
    y, p = [0.5, 0, 0, 0, 0], [-0.5, 0, 0, 0, 0]
    assert _loss(y, p, horizon_weights=(5, 0, 0, 0, 0)) == pytest.approx(5 * _loss(y, p))


def test_sign_term_costs_in_proportion_to_the_wrong_side_not_to_the_move():
    # "sign": lam * relu(-sign(y) * p): grows with how far p is on the wrong side ...
    extra = [_loss(Y, [p] * 5, lam=0.5, dir_term="sign") - _loss(Y, [p] * 5, lam=0.0) for p in (-0.2, -0.4, -0.8)]
    np.testing.assert_allclose(extra, [0.5 * 0.2, 0.5 * 0.4, 0.5 * 0.8], rtol=1e-5)
    # ... is the same for a small and a big move of the same sign, and vanishes on the right side
    small_move = _loss([0.1] * 5, [-0.4] * 5, lam=0.5, dir_term="sign") - _loss([0.1] * 5, [-0.4] * 5, lam=0.0)
    big_move = _loss([3.0] * 5, [-0.4] * 5, lam=0.5, dir_term="sign") - _loss([3.0] * 5, [-0.4] * 5, lam=0.0)
    assert small_move == pytest.approx(big_move, rel=1e-5) == pytest.approx(0.5 * 0.4, rel=1e-5)
    assert _loss(Y, [0.2] * 5, lam=0.5, dir_term="sign") == pytest.approx(_loss(Y, [0.2] * 5, lam=0.0))


def test_sign_term_gradient_points_toward_the_right_sign():
    g = _grad([0.01] * 5, [-0.6] * 5, delta=0.1, dir_term="sign")
    g_plain = _grad([0.01] * 5, [-0.6] * 5, delta=0.1, lam=0.0)
    assert (g < 0).all() and (np.abs(g) > np.abs(g_plain)).all()


def test_rejects_bad_parameters():
    from cryptolstm.modelling.losses import direction_aware_huber

    with pytest.raises(ValueError):
        direction_aware_huber(delta=0)
    with pytest.raises(ValueError):
        direction_aware_huber(lam=-1)
    with pytest.raises(ValueError):
        direction_aware_huber(dir_term="constant")
