"""Core primitives and named optimizers keep their optax namesake's signature.

A user swaps `optax.X(...)` for `jo.X(...)` unchanged: every parameter the
two share sits at the same position with the same default. What optax has and
jaxopt_edu does not (yet), and the one deliberate extra, are listed here, so
a new parameter that exists only for a port cannot slip into the core.
"""

import inspect

import optax
import pytest

import jaxopt_edu as jo

# jo name -> optax name, where they differ.
NAMESAKES = {
    "scale_by_adagrad": "scale_by_rss",
}

PRIMITIVES = [
    "scale", "scale_by_schedule", "scale_by_learning_rate", "trace", "ema", "scale_by_rms", "scale_by_stddev",
    "scale_by_adagrad", "scale_by_adadelta", "scale_by_adam", "scale_by_amsgrad", "scale_by_adamax",
    "scale_by_radam", "scale_by_lion", "add_decayed_weights", "clip", "clip_by_global_norm", "apply_if_finite",
    "scale_by_factored_rms", "clip_by_block_rms", "scale_by_param_block_rms", "scale_by_param_block_norm", "scale_by_trust_ratio", "scale_by_belief", "scale_by_yogi", "scale_by_novograd",
    "scale_by_sign", "scale_by_adan", "scale_by_rprop",
    "flatten", "set_to_zero", "freeze", "zero_nans", "add_noise", "keep_params_nonnegative",
]
NAMED = ["sgd", "adagrad", "adadelta", "rmsprop", "adam", "adamw", "amsgrad", "radam", "adamax", "lion", "adafactor", "lamb", "lars", "adabelief", "yogi", "novograd", "sign_sgd", "signum", "adan", "rprop"]

# Parameters of the optax namesake that jaxopt_edu does not have (yet): optional
# extensions, each defaulting to the plain rule. Keep this list short.
NOT_YET = {
    "scale_by_amsgrad": {"bias_correction_mu", "bias_correction_nu"},
    "amsgrad": {"bias_correction_mu", "bias_correction_nu"},
    "scale_by_radam": {"nesterov"},
    "radam": {"nesterov"},
    "scale_by_lion": {"mode", "smooth_beta"},
    "adadelta": {"weight_decay", "weight_decay_mask"},
}
# Parameters jaxopt_edu has and optax does not: keyword-only, after optax's.
EXTRAS = {
    "sgd": {"weight_decay"},  # torch.optim.SGD's coupled L2, documented in jo.sgd
    "scale_by_adam": {"nu_dtype"},  # ν stored in another dtype (m has optax's mu_dtype)
    "adam": {"nu_dtype"},
    "adamw": {"nu_dtype"},
}
# Defaults that differ on purpose (documented in the docstrings).
OTHER_DEFAULTS = {
    ("scale_by_factored_rms", "decay_rate_fn"): None,  # the same rule, our own copy: transforms/factored.py adafactor_decay_rate
    ("sgd", "momentum"): None,
    ("adadelta", "learning_rate"): 1.0,  # optax: None, which also drops the sign flip
}


def _parameters(function):
    return list(inspect.signature(function).parameters.values())


@pytest.mark.parametrize("name", PRIMITIVES + NAMED)
def test_signature_matches_the_optax_namesake(name):
    ours = {p.name: p for p in _parameters(getattr(jo, name))}
    theirs = _parameters(getattr(optax, NAMESAKES.get(name, name)))
    missing = {p.name for p in theirs} - set(ours)
    assert missing == NOT_YET.get(name, set()), f"{name}: optax parameters missing here: {missing}"
    extra = set(ours) - {p.name for p in theirs}
    assert extra == EXTRAS.get(name, set()), f"{name}: parameters optax does not have: {extra}"
    for extra_name in extra:
        assert ours[extra_name].kind == inspect.Parameter.KEYWORD_ONLY, f"{name}: {extra_name} must be keyword-only"
    shared = [p for p in theirs if p.name in ours]
    our_order = [p.name for p in _parameters(getattr(jo, name)) if p.name in {q.name for q in shared}]
    assert our_order == [p.name for p in shared], f"{name}: parameters in another order than optax's"
    for parameter in shared:
        mine = ours[parameter.name]
        assert mine.kind == parameter.kind, f"{name}({parameter.name}): positional/keyword kind differs"
        if (name, parameter.name) in OTHER_DEFAULTS:
            continue
        assert mine.default == parameter.default, (
            f"{name}({parameter.name}): default {mine.default!r}, optax {parameter.default!r}"
        )


@pytest.mark.parametrize("name", PRIMITIVES)
def test_core_primitives_take_no_library_variant_flags(name):
    """The flags that once selected torch/Keras variants inside core primitives are gone."""
    flags = {"eps_placement", "maximum_of", "eps_inside_max", "dampening"}
    assert not flags & set(inspect.signature(getattr(jo, name)).parameters)
    if name == "scale_by_adagrad":
        assert "eps_in_sqrt" not in inspect.signature(jo.scale_by_adagrad).parameters
