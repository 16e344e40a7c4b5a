"""Gradients that do not fit the state: each is one error naming the leaf, never a
broadcasting message or a silently wrong step."""

import jax.numpy as jnp
import pytest

import jaxopt_edu as jo
from jaxopt_edu.compat import keras_rules, torch_rules

BUILDERS = {
    "trace": lambda: jo.trace(0.9),
    "ema": lambda: jo.ema(0.9),
    "scale_by_rms": jo.scale_by_rms,
    "scale_by_stddev": jo.scale_by_stddev,
    "scale_by_adagrad": jo.scale_by_adagrad,
    "scale_by_adadelta": jo.scale_by_adadelta,
    "scale_by_adam": jo.scale_by_adam,
    "scale_by_amsgrad": jo.scale_by_amsgrad,
    "scale_by_adamax": jo.scale_by_adamax,
    "scale_by_nadam": jo.scale_by_nadam,
    "scale_by_radam": jo.scale_by_radam,
    "scale_by_lion": jo.scale_by_lion,
    "add_decayed_weights": lambda: jo.add_decayed_weights(1e-2),
    "accumulate_gradients": lambda: jo.accumulate_gradients(jo.sgd(0.1), 2),
    "torch_momentum": lambda: torch_rules.torch_momentum(0.9, 0.1),
    "scale_by_torch_adagrad": torch_rules.scale_by_torch_adagrad,
    "scale_by_torch_amsgrad": torch_rules.scale_by_torch_amsgrad,
    "scale_by_torch_radam": torch_rules.scale_by_torch_radam,
    "scale_by_keras_adam": keras_rules.scale_by_keras_adam,
    "scale_by_keras_amsgrad": keras_rules.scale_by_keras_amsgrad,
    "scale_by_keras_adamax": keras_rules.scale_by_keras_adamax,
    "adam (chain)": lambda: jo.adam(1e-3),
    "torch.SGD": lambda: jo.torch.SGD(0.1, momentum=0.9, dampening=0.1),
    "keras.Adam": lambda: jo.keras.Adam(weight_decay=1e-2),
}

PARAMS = {"w": jnp.ones(3), "b": {"c": jnp.ones((2, 2))}}


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_gradient_of_another_shape_names_the_leaf_and_both_shapes(name):
    tx = BUILDERS[name]()
    grads = {"w": jnp.ones(4), "b": {"c": jnp.ones((2, 2))}}
    with pytest.raises(jo.TreeMismatchError, match=r"\['w'\]: shape \(4,\) against \(3,\)"):
        tx.update(grads, tx.init(PARAMS), PARAMS)


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_gradient_that_would_broadcast_is_refused_too(name):
    """A scalar gradient for a (2, 2) leaf would broadcast silently into the state."""
    tx = BUILDERS[name]()
    grads = {"w": jnp.ones(3), "b": {"c": jnp.ones(())}}
    with pytest.raises(jo.TreeMismatchError, match=r"\['b'\]\['c'\]: shape \(\) against \(2, 2\)"):
        tx.update(grads, tx.init(PARAMS), PARAMS)


def test_integer_gradient_is_refused_with_its_path():
    tx = jo.scale_by_adam()
    params = {"w": jnp.ones(3)}
    with pytest.raises(jo.TreeMismatchError, match=r"updates leaf \['w'\] has dtype int32; gradients must be floating"):
        tx.update({"w": jnp.ones(3, jnp.int32)}, tx.init(params))


def test_apply_updates_with_another_shape_names_the_leaf():
    params = {"w": jnp.ones(3), "b": jnp.ones(2)}
    with pytest.raises(jo.TreeMismatchError, match=r"params and updates differ at leaf \['b'\]: shape \(2,\) against \(\)"):
        jo.apply_updates(params, {"w": jnp.ones(3), "b": jnp.ones(())})
