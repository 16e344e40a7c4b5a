"""Lookahead: k fast steps forward, then one step of the slow weights towards them."""

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from jaxopt_edu.base import GradientTransformation, OptState, Params, check_transformation, update_with_extra_args
from jaxopt_edu.numerics import as_compute, map_leaves
from jaxopt_edu.tree_utils import check_same_shapes, tree_cast_like
from jaxopt_edu.validation import check_in_range, concrete_scalar


class LookaheadState(NamedTuple):
    fast_state: OptState  # the fast optimizer's state
    steps_since_sync: jax.Array  # c, fast steps since the last synchronisation, in [0, k) (int32)


class LookaheadParams(NamedTuple):
    """The two sets of params lookahead keeps: take the gradients at `fast`, evaluate with `slow`.

    Field for field optax's `LookaheadParams`; lookahead accepts either class
    and answers in the one it was given.
    """

    fast: Params  # φ, where the gradients are taken
    slow: Params  # θ, the params to evaluate (and deploy) with

    @classmethod
    def init_synced(cls, params: Params) -> "LookaheadParams":
        """Both fast and slow set to `params`: the start of a lookahead run."""
        return cls(fast=params, slow=params)


def _check_sync_period(sync_period: Any) -> None:
    value = concrete_scalar(sync_period)
    if isinstance(sync_period, bool) or (value is not None and (value < 1 or value != int(value))):
        raise ValueError(f"sync_period must be an integer >= 1, got {sync_period!r}.")


def lookahead(
    fast_optimizer: GradientTransformation,
    sync_period: int,
    slow_step_size: float,
    reset_state: bool = False,
) -> GradientTransformation:
    """Lookahead (Zhang et al. 2019, "Lookahead Optimizer: k steps forward, 1 step back").

    The params are a pair `LookaheadParams(fast=φ, slow=θ)` (start from
    `LookaheadParams.init_synced(params)`); the gradients g_t are taken at
    φ. Every step is a fast step; every k-th also moves θ a fraction α of the
    way to the new fast params and restarts φ there:

        u_t, s_t = fast_optimizer(g_t, s_{t−1}, φ_{t−1})
        sync_t   = (c_{t−1} = k − 1)
        d_t      = φ_{t−1} + u_t − θ_{t−1}               (new fast params minus slow ones)
        Δθ_t     = α · sync_t · d_t
        Δφ_t     = u_t − sync_t · (1 − α) · d_t
        c_t      = (c_{t−1} + 1) mod k

    with k = `sync_period`, α = `slow_step_size`. The update returned is the
    pair `(Δφ_t, Δθ_t)` in the container the params came in, so
    `apply_updates(params, updates)` gives φ_t = φ_{t−1} + u_t and θ
    unchanged between synchronisations, and θ_t = φ_t = θ_{t−1} + α · d_t
    at one. Apply the updates unchanged: anything between them and the
    params breaks the synchronisation. `reset_state=True` replaces the fast
    optimizer's state by `fast_optimizer.init(φ_{t−1})` after each
    synchronisation.

    Same signature, state (`LookaheadState(fast_state, steps_since_sync)`)
    and rule as `optax.lookahead` in optax 0.2.8; the params may be ours or
    optax's `LookaheadParams` (any NamedTuple with fields `fast` and `slow`).
    Like optax, `init` accepts plain params too (taken as the fast ones).
    Differences: optax resets the state as `(1 − sync) · s + sync · s_0`, we
    select with `where` (the same unless a state leaf holds an inf or a NaN),
    and we compute d_t in float32 for half-precision leaves. `update` takes
    extra keyword arguments and hands them to `fast_optimizer` when it
    takes them (optax's lookahead takes none).
    """
    check_transformation(fast_optimizer, "fast_optimizer")
    _check_sync_period(sync_period)
    check_in_range("slow_step_size", slow_step_size, 0.0, 1.0)

    def init(params):
        fast_params = getattr(params, "fast", None)
        return LookaheadState(
            fast_state=fast_optimizer.init(params if fast_params is None else fast_params),
            steps_since_sync=jnp.zeros([], jnp.int32),
        )

    def update(updates, state, params=None, **extra_args):
        if not (hasattr(params, "fast") and hasattr(params, "slow")):
            raise ValueError(
                "lookahead needs the params as LookaheadParams(fast, slow) (jo.LookaheadParams or "
                f"optax.LookaheadParams), got {type(params).__name__}: call update(grads, state, params) with "
                "params = jo.LookaheadParams.init_synced(initial_params) and the gradients taken at params.fast.")
        fast, slow = params.fast, params.slow
        check_same_shapes(fast, slow, "params.fast", "params.slow")
        fast_updates, fast_state = update_with_extra_args(fast_optimizer, updates, state.fast_state, fast, extra_args)
        check_same_shapes(fast_updates, fast, "fast_optimizer updates", "params.fast")
        sync = state.steps_since_sync == sync_period - 1

        def leaf(phi, u, theta):
            phi32, u32, theta32 = as_compute(phi), as_compute(u), as_compute(theta)
            sync32 = sync.astype(u32.dtype)
            d = phi32 + u32 - theta32
            slow_update = slow_step_size * sync32 * d
            fast_update = u32 - sync32 * (1 - slow_step_size) * d
            return fast_update.astype(jnp.result_type(u)), slow_update.astype(jnp.result_type(theta))

        new_fast, new_slow = map_leaves(leaf, fast, fast_updates, slow, num_outputs=2)

        if reset_state:
            initial = fast_optimizer.init(fast)
            fast_state = jax.tree.map(lambda current, start: jnp.where(sync, start, current), fast_state, initial)
        fast_state = tree_cast_like(fast_state, state.fast_state)
        steps_since_sync = ((state.steps_since_sync + 1) % sync_period).astype(jnp.int32)
        container = params._replace if hasattr(params, "_replace") else LookaheadParams
        return container(fast=new_fast, slow=new_slow), LookaheadState(fast_state, steps_since_sync)

    return GradientTransformation(init, update)


__all__ = ["lookahead", "LookaheadState", "LookaheadParams"]
