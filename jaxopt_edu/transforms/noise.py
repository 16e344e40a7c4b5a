"""Gradient noise: add annealed Gaussian noise to the updates (Neelakantan et al. 2015)."""

import warnings
from typing import NamedTuple, Optional, Union

import jax
import jax.numpy as jnp
import numpy as np

from jaxopt_edu.base import GradientTransformation
from jaxopt_edu.numerics import as_compute, compute_dtype, safe_increment, zero_count
from jaxopt_edu.validation import check_non_negative


class AddNoiseState(NamedTuple):
    count: jax.Array  # updates already applied (int32)
    rng_key: jax.Array  # k, the random key the next update splits


def _as_key(key: Union[int, jax.Array]) -> jax.Array:
    """A typed random key from an int seed, a `jax.random.key`, or a raw `jax.random.PRNGKey`."""
    if isinstance(key, jax.Array) and jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        return key
    if isinstance(key, (jax.Array, np.ndarray)) and key.dtype == jnp.uint32 and key.ndim == 1:
        return jax.random.wrap_key_data(key)  # a legacy raw key, jax.random.PRNGKey(seed)
    if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
        return jax.random.key(key)
    if isinstance(key, (jax.Array, np.ndarray)) and key.ndim == 0 and jnp.issubdtype(key.dtype, jnp.integer):
        return jax.random.key(key)
    raise TypeError(f"key must be an int seed or a jax.random.key, got {key!r}.")


def add_noise(
    eta: float,
    gamma: float,
    key: Optional[Union[int, jax.Array]] = None,
    *,
    seed: Optional[int] = None,
) -> GradientTransformation:
    """Adds Gaussian noise whose variance decays with the step number:

        t      = count + 1                         (this update's number, from 1)
        σ_t    = sqrt(η / t^γ)                     (variance η / t^γ)
        k, k'  = split(k)
        k_1 … k_n = split(k', n)                   (one key per leaf, in tree order)
        u'_i   = u_i + σ_t · N(k_i, shape(u_i))

    with η = `eta`, γ = `gamma` (the paper uses γ = 0.55). Same signature, rule
    and random stream as `optax.add_noise`, so the same `key` gives optax's
    trajectory exactly. `key` is an int seed or a `jax.random.key(...)` (a
    legacy `jax.random.PRNGKey(...)` is accepted too); `seed` is optax's
    deprecated spelling of an int key; with neither, optax warns and uses 0,
    and so does this. For half-precision leaves the noise is drawn and added
    in float32, then rounded to the leaf's dtype (optax draws it in the
    leaf's dtype), so there only the distribution, not each value, is optax's.
    """
    check_non_negative("eta", eta)
    check_non_negative("gamma", gamma)
    if seed is not None:
        warnings.warn('add_noise: "seed" is deprecated (as in optax), pass key=seed instead.',
                      DeprecationWarning, stacklevel=2)
        if key is not None:
            raise ValueError("add_noise takes only one of seed and key.")
        key = seed
    if key is None:
        warnings.warn("add_noise: no key given, using key=0; pass key=<int seed or jax.random.key> "
                      "(optax will require one).", stacklevel=2)
        key = 0
    initial_key = _as_key(key)

    def init(params):
        del params
        return AddNoiseState(count=zero_count(), rng_key=initial_key)

    def update(updates, state, params=None):
        del params
        count = safe_increment(state.count)
        standard_deviation = jnp.sqrt(eta / count.astype(jnp.float32) ** gamma)
        rng_key, noise_key = jax.random.split(state.rng_key)
        leaves, treedef = jax.tree.flatten(updates)
        leaf_keys = jax.random.split(noise_key, len(leaves))

        def leaf(u, k):
            noise = jax.random.normal(k, jnp.shape(u), compute_dtype(u.dtype))
            return (as_compute(u) + standard_deviation.astype(noise.dtype) * noise).astype(u.dtype)

        new_updates = treedef.unflatten([leaf(u, leaf_keys[i]) for i, u in enumerate(leaves)])
        return new_updates, AddNoiseState(count=count, rng_key=rng_key)

    return GradientTransformation(init, update)


__all__ = ["add_noise", "AddNoiseState"]
