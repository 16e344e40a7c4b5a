"""Keras 3's newer optimizers as jo.keras ports: Lion, Lamb, Adafactor, Ftrl, Muon, ScheduleFreeAdamW.

Each constructor takes the keywords of `keras.optimizers.<Name>` (Keras 3.15),
in the same order with the same defaults, and returns a
`GradientTransformation` whose float32 trajectory equals Keras' (tested with
the jax backend to 1e-5 of each leaf's scale). The base-class features
(loss_scale_factor, gradient_accumulation_steps, clipnorm / clipvalue /
global_clipnorm, weight_decay, use_ema, schedules) come from `jo.keras`'s
`_Base`, in the order Keras' `apply` runs them (see `jaxopt_edu.compat.keras`).

Keras applies weight decay to the variable *before* `update_step`:
θ̃ = θ − η·λ·θ. Where the step reads the variable (Lamb's trust ratio,
Adafactor's RMS(θ), Ftrl, ScheduleFreeAdamW's y) it reads θ̃; those chains
use `rules.keras_weight_decay_before`, the others `add_decayed_weights(λ)`
before `scale_by_learning_rate(η)` (the same thing for them).

=================  ==============================================  =============================================
Keras 3.15         Keras' rule (defaults)                          differs from optax / torch
=================  ==============================================  =============================================
Lion               θ ← θ − η·sign(β1·m + (1−β1)·g);                optax.lion: same rule (its weight decay is
                   m ← β2·m + (1−β2)·g;  η=1e-3, β=(0.9, 0.99)      inside its chain, λ=1e-3 by default).
Lamb               u = m̂/(√v̂ + ε);  r = ‖θ̃‖/‖u‖ (1 if either 0);    optax.lamb adds λθ to u *inside* the trust
                   θ ← θ̃ − η·r·u;  ε=1e-7, no decay by default       ratio (ε=1e-6, λ=0); Keras decays first.
Adafactor          ν factored over the last two axes of every       optax.adafactor: the two largest axes, only
                   ≥ 2-D leaf;  α = max(ε2, RMS(θ̃))·min(η, t^−½);    if both ≥ 128; step η·max(1e-3, RMS(θ))·û
                   θ ← θ̃ − α·clipRMS(g/√ν);  β̂_t = 1 − t^−0.8       (η=None: no η), no min(η, t^−½).
Ftrl               McMahan's FTRL-proximal with shrinkage;          no optax / torch namesake.
                   n_0 = 0.1, lr_power = −0.5
Muon               2-D, non-embedding, non-excluded leaves:         optax.contrib.muon: m is a debiased EMA
                   m ← μm + g, NS(g + μm)·√max(n,m)·0.2;            (1 − μ) g, ε 1e-8, Jordan's shape scaling,
                   other leaves: Keras' Adam at η·adam_lr_ratio     Adam on the rest with its own η.
                   decay λ=0.004 (Muon), adam_weight_decay=0.004
ScheduleFreeAdamW  z ← z − η_t·g/(√v̂ + ε);  x ← (1 − 1/t)x + z/t;     optax.contrib.schedule_free_adamw weights
                   y = (1 − β1)z + β1·x;  η_t = η·min(t/W, 1)        x's average by η_t² (here 1/t, even in
                   (W = warmup_steps), η=0.0025, ε=1e-8              warmup); λ decays y before the step.
=================  ==============================================  =============================================

Muon and embeddings on a pytree. Keras chooses Adam for a variable that is
not 2-D, whose `variable.path` contains "embedding" (any case) when
`exclude_embeddings=True`, or whose path matches (`re.search`) one of the
`exclude_layers` patterns. Here a leaf's path is its pytree keys joined by
"/": `params["encoder"]["token_embedding"]["table"]` is
"encoder/token_embedding/table", a list index is its number, a dataclass
field its name (`leaf_paths(params)` shows them). So name the subtree of an
embedding table "...embedding..." (Flax's `nn.Embed` already calls its table
"embedding") or list a pattern in `exclude_layers`, e.g.
`Muon(exclude_layers=["^head/", "lm_head"])`.

Deliberate differences from Keras, beyond those of `jo.keras` (see there):
bad hyperparameters raise ValueError at construction naming the argument
where Keras accepts them and produces NaN or a silent no-op (Lamb's and
ScheduleFreeAdamW's β outside [0, 1), β1 = 0 for ScheduleFreeAdamW, which
divides by β1; Muon's momentum, ns_steps, rms_rate <= 0).
"""

import re
from typing import Any

import jax
import jax.numpy as jnp

from jaxopt_edu.base import GradientTransformation, Params
from jaxopt_edu.combine import chain, identity, multi_transform
from jaxopt_edu.compat.keras import _base, _KerasDefault
from jaxopt_edu.compat.keras_rules import (
    keras_ftrl,
    keras_weight_decay_before,
    scale_by_keras_adafactor,
    scale_by_keras_adam,
    scale_by_keras_muon,
)
from jaxopt_edu.transforms.adam import scale_by_adam
from jaxopt_edu.transforms.lion import scale_by_lion
from jaxopt_edu.transforms.orthogonalize import scale_by_shape
from jaxopt_edu.transforms.rmsprop import scale_by_rms
from jaxopt_edu.transforms.scaling import scale, scale_by_learning_rate
from jaxopt_edu.transforms.schedule_free_averaging import schedule_free
from jaxopt_edu.transforms.trust_ratio import scale_by_trust_ratio
from jaxopt_edu.transforms.weight_decay import add_decayed_weights
from jaxopt_edu.validation import check_beta, check_in_range, check_non_negative, check_positive_int

__all__ = ["Lion", "Lamb", "Adafactor", "Ftrl", "Muon", "ScheduleFreeAdamW", "leaf_paths"]


def _decay_first(base, step: GradientTransformation) -> GradientTransformation:
    """`step` run at θ̃ = θ − ηλθ (Keras' order) when weight_decay is set; `step` otherwise."""
    if base.weight_decay is None:
        return step
    return keras_weight_decay_before(step, base.weight_decay, base.learning_rate)


def _check_open_unit(name: str, value: Any) -> None:
    check_in_range(name, value, 0.0, 1.0, low_inclusive=False)


def Lion(learning_rate=_KerasDefault(0.001), beta_1=0.9, beta_2=0.99, weight_decay=None, clipnorm=None,
         clipvalue=None, global_clipnorm=None, use_ema=False, ema_momentum=0.99, ema_overwrite_frequency=None,
         loss_scale_factor=None, gradient_accumulation_steps=None, name=None, **kwargs) -> GradientTransformation:
    """keras.optimizers.Lion:

        θ ← θ − η · sign(β1·m + (1 − β1)·g);   m ← β2·m + (1 − β2)·g

    β1 must be in (0, 1] (Keras' own check: β1 = 0 is SignSGD).
    """
    _check_open_unit("beta_1", beta_1)
    check_in_range("beta_2", beta_2, 0.0, 1.0)
    base = _base("Lion", Lion, dict(locals()))
    return base.wrap(chain(
        base.gradient_clipping(),
        scale_by_lion(beta_1, beta_2),
        base.decayed_weights(),
        scale_by_learning_rate(base.learning_rate),
    ))


def Lamb(learning_rate=_KerasDefault(0.001), beta_1=0.9, beta_2=0.999, epsilon=1e-7, weight_decay=None,
         clipnorm=None, clipvalue=None, global_clipnorm=None, use_ema=False, ema_momentum=0.99,
         ema_overwrite_frequency=None, loss_scale_factor=None, gradient_accumulation_steps=None, name=None,
         **kwargs) -> GradientTransformation:
    """keras.optimizers.Lamb: Adam's debiased step times the layer's trust ratio.

        θ̃ = θ − η·λ·θ                                   (weight_decay, before the step)
        u = m̂ / (√v̂ + ε),   m̂ = m/(1 − β1^t), v̂ = v/(1 − β2^t)
        r = ‖θ̃‖ / ‖u‖   (1 where ‖θ̃‖ = 0 or ‖u‖ = 0);   θ ← θ̃ − η · r · u

    Chain: clip, then at θ̃: scale_by_adam, scale_by_trust_ratio, η.
    """
    check_beta("beta_1", beta_1)
    check_beta("beta_2", beta_2)
    check_non_negative("epsilon", epsilon)
    base = _base("Lamb", Lamb, dict(locals()))
    return base.wrap(chain(
        base.gradient_clipping(),
        _decay_first(base, chain(
            scale_by_adam(beta_1, beta_2, epsilon),
            scale_by_trust_ratio(),
            scale_by_learning_rate(base.learning_rate),
        )),
    ))


def Adafactor(learning_rate=_KerasDefault(0.001), beta_2_decay=-0.8, epsilon_1=1e-30, epsilon_2=1e-3,
              clip_threshold=1.0, relative_step=True, weight_decay=None, clipnorm=None, clipvalue=None,
              global_clipnorm=None, use_ema=False, ema_momentum=0.99, ema_overwrite_frequency=None,
              loss_scale_factor=None, gradient_accumulation_steps=None, name=None,
              **kwargs) -> GradientTransformation:
    """keras.optimizers.Adafactor: `rules.scale_by_keras_adafactor`, negated.

        θ̃ = θ − η·λ·θ;   θ ← θ̃ − max(ε2, RMS(θ̃)) · min(η, 1/√t) · û

    `relative_step` is accepted and, as in Keras 3, changes nothing: Keras
    takes min(η, 1/√t) for a constant η when it is set, and ρ_t is that
    minimum anyway.
    """
    del relative_step  # no effect in Keras 3 (see the docstring)
    check_in_range("beta_2_decay", beta_2_decay, high=0.0)
    base = _base("Adafactor", Adafactor, dict(locals()))
    return base.wrap(chain(
        base.gradient_clipping(),
        _decay_first(base, chain(
            scale_by_keras_adafactor(base.learning_rate, beta_2_decay, epsilon_1, epsilon_2, clip_threshold),
            scale(-1.0),
        )),
    ))


def Ftrl(learning_rate=_KerasDefault(0.001), learning_rate_power=-0.5, initial_accumulator_value=0.1,
         l1_regularization_strength=0.0, l2_regularization_strength=0.0, l2_shrinkage_regularization_strength=0.0,
         beta=0.0, weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None, use_ema=False,
         ema_momentum=0.99, ema_overwrite_frequency=None, loss_scale_factor=None, gradient_accumulation_steps=None,
         name=None, **kwargs) -> GradientTransformation:
    """keras.optimizers.Ftrl: `rules.keras_ftrl` (which sets θ from its accumulators), at θ̃.

        θ̃ = θ − η·λ·θ;   z ← z + ĝ − (n'^p − n^p)/η · θ̃;   θ ← (clip(z, ±λ1) − z) / (n'^p/η + 2λ2 + β/η)
    """
    base = _base("Ftrl", Ftrl, dict(locals()))
    return base.wrap(chain(
        base.gradient_clipping(),
        _decay_first(base, keras_ftrl(
            base.learning_rate, learning_rate_power, initial_accumulator_value, l1_regularization_strength,
            l2_regularization_strength, l2_shrinkage_regularization_strength, beta,
        )),
    ))


def _path_key(key: Any) -> str:
    for attribute in ("key", "idx", "name"):
        if hasattr(key, attribute):
            return str(getattr(key, attribute))
    return str(key)


def leaf_paths(params: Params) -> Any:
    """The params' tree with each leaf replaced by its path, the keys joined by "/".

    `{"encoder": {"embedding": {"table": x}}, "layers": [w]}` gives
    `{"encoder": {"embedding": {"table": "encoder/embedding/table"}}, "layers": ["layers/0"]}`:
    what `Muon`'s `exclude_embeddings` and `exclude_layers` match against
    (Keras matches `variable.path`, e.g. "dense_1/kernel").
    """
    return jax.tree_util.tree_map_with_path(lambda path, _: "/".join(_path_key(k) for k in path), params)


def Muon(learning_rate=_KerasDefault(0.001), adam_beta_1=0.9, adam_beta_2=0.999, adam_weight_decay=0.004,
         epsilon=1e-7, weight_decay=0.004, clipnorm=None, clipvalue=None, global_clipnorm=None, use_ema=False,
         ema_momentum=0.99, ema_overwrite_frequency=None, loss_scale_factor=None, gradient_accumulation_steps=None,
         name=None, exclude_layers=None, exclude_embeddings=True, muon_a=3.4445, muon_b=-4.7750, muon_c=2.0315,
         adam_lr_ratio=1, momentum=0.95, ns_steps=5, nesterov=True, rms_rate=0.2,
         **kwargs) -> GradientTransformation:
    """keras.optimizers.Muon: Muon for matrices, Keras' Adam for the rest.

    A leaf takes the Adam step when it is not 2-D, or (exclude_embeddings)
    its path contains "embedding" in any case, or its path matches one of the
    `exclude_layers` regular expressions (`re.search`); its path is its keys
    joined by "/" (`leaf_paths`). Every other leaf takes the Muon step:

        Muon:  θ ← θ − η·λ·θ;   m ← μ·m + g;   θ ← θ − η · NS(g + μ·m) · √max(n, m) · ρ
        Adam:  θ ← θ − η·λ_a·θ; θ ← θ − (η·r_a) · α_t·m/(√v + ε)      (Keras' Adam, β = adam_beta_*)

    with λ = weight_decay, λ_a = adam_weight_decay (each None: no decay),
    r_a = adam_lr_ratio (the decay uses η, not η·r_a, as Keras does),
    ρ = rms_rate (None: no √max(n, m)·ρ factor), NS = `muon_a, muon_b,
    muon_c` for `ns_steps` Newton–Schulz steps (without nesterov: NS(m)).
    """
    if exclude_layers is not None and (
        isinstance(exclude_layers, str) or not all(isinstance(p, str) for p in exclude_layers)
    ):
        raise TypeError(f"exclude_layers must be a list of regular expressions (str), got {exclude_layers!r}.")
    patterns = [re.compile(p) for p in (exclude_layers or [])]
    check_beta("adam_beta_1", adam_beta_1)
    check_beta("adam_beta_2", adam_beta_2)
    check_non_negative("epsilon", epsilon)
    if adam_weight_decay is not None:
        check_non_negative("adam_weight_decay", adam_weight_decay)
    check_non_negative("adam_lr_ratio", adam_lr_ratio)
    check_beta("momentum", momentum)
    check_positive_int("ns_steps", ns_steps)
    if rms_rate is not None:
        check_in_range("rms_rate", rms_rate, 0.0, float("inf"), low_inclusive=False)
    if weight_decay is not None:
        check_non_negative("weight_decay", weight_decay)
    decay = weight_decay  # per leaf group below; the base's own decay is off
    base = _base("Muon", Muon, dict(locals(), weight_decay=None))

    def uses_adam(path: str, leaf: Any) -> bool:
        return (jnp.ndim(leaf) != 2 or (exclude_embeddings and "embedding" in path.lower())
                or any(p.search(path) for p in patterns))

    def labels(params):
        return jax.tree.map(lambda path, leaf: "adam" if uses_adam(path, leaf) else "muon", leaf_paths(params), params)

    def decayed(rate):
        return identity() if rate is None else add_decayed_weights(rate)

    muon_step = chain(
        scale_by_keras_muon(momentum, nesterov, (muon_a, muon_b, muon_c), ns_steps),
        identity() if rms_rate is None else scale_by_shape(rms_rate),
        decayed(decay),
        scale_by_learning_rate(base.learning_rate),
    )
    adam_step = chain(
        scale_by_keras_adam(adam_beta_1, adam_beta_2, epsilon),
        scale(adam_lr_ratio),
        decayed(adam_weight_decay),
        scale_by_learning_rate(base.learning_rate),
    )
    return base.wrap(chain(
        base.gradient_clipping(),
        multi_transform({"muon": muon_step, "adam": adam_step}, labels),
    ))


def ScheduleFreeAdamW(learning_rate=_KerasDefault(0.0025), beta_1=0.9, beta_2=0.999, epsilon=1e-8, warmup_steps=0,
                      weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None, use_ema=False,
                      ema_momentum=0.99, ema_overwrite_frequency=None, loss_scale_factor=None,
                      gradient_accumulation_steps=None, name=None, **kwargs) -> GradientTransformation:
    """keras.optimizers.ScheduleFreeAdamW (Defazio et al. 2024):

        θ̃ = y − η·λ·y                                  (weight_decay decays y, the params)
        η_t = η · min(t / W, 1)   (W = warmup_steps; η_t = η when W = 0)
        v ← β2·v + (1 − β2)·g²;   z ← z − η_t · g / (√(v/(1 − β2^t)) + ε)     z_0 = y_0
        x = (θ̃ − (1 − β1)·z_old)/β1;   x ← (1 − 1/t)·x + z/t;   y ← (1 − β1)·z + β1·x

    Chain: clip, then at θ̃: `schedule_free(scale_by_rms(β2, ε, bias
    correction, ε outside the root) then η_t, b1=β1, weight_lr_power=0)`:
    weight_lr_power = 0 gives every step the weight 1, x's average weight
    1/t, as Keras (optax weighs by η_t²). Evaluate at x with
    `jo.schedule_free_eval_params` (Keras evaluates at y, the params).
    """
    _check_open_unit("beta_1", beta_1)
    check_beta("beta_2", beta_2)
    check_non_negative("epsilon", epsilon)
    if isinstance(warmup_steps, bool) or not isinstance(warmup_steps, int) or warmup_steps < 0:
        raise ValueError(f"warmup_steps must be an integer >= 0, got {warmup_steps!r}.")
    base = _base("ScheduleFreeAdamW", ScheduleFreeAdamW, dict(locals()))
    rate = base.learning_rate
    if warmup_steps > 0:
        def rate(count, _lr=base.learning_rate):
            value = _lr(count) if callable(_lr) else _lr
            return value * jnp.minimum((count + 1).astype(jnp.float32) / warmup_steps, 1.0)
    adam_step = chain(
        scale_by_rms(beta_2, epsilon, eps_in_sqrt=False, bias_correction=True),
        scale_by_learning_rate(rate),
    )
    return base.wrap(chain(
        base.gradient_clipping(),
        _decay_first(base, schedule_free(adam_step, learning_rate=1.0, b1=beta_1, weight_lr_power=0.0)),
    ))
