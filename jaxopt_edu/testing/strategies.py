"""Hypothesis strategies for testing gradient transformations (needs the `hypothesis` test extra).

    from hypothesis import given
    from jaxopt_edu.testing import strategies as jst

    @given(jst.pytrees(), jst.hyperparameters(jo.scale_by_adam))
    def test_adam_conforms(params, kwargs):
        jo.testing.check_transformation(jo.scale_by_adam(**kwargs), params, steps=2)

    pytrees(dtypes, ...)        nested dicts / lists / tuples of arrays of the given dtypes and small shapes
    arrays(dtype, shape)        one finite array (values in [-bound, bound], exactly representable)
    gradients_like(params)      gradients with the params' tree, shapes and dtypes
    hyperparameters(factory)    keyword arguments the factory accepts (valid=True) or must reject (valid=False)

Hyperparameter ranges come from the factory's signature (its parameter
names and float defaults) and the project's validation conventions
(`jaxopt_edu/validation.py`); a parameter whose name is not in the table
keeps its default:

    name                                                   valid           invalid (ValueError at construction)
    b1, b2, b3, beta, beta1, beta2, decay (EMA-like)       [0, 1)          < 0, or >= 1
    momentum, rho, dampening                               [0, 1]          < 0, or > 1
    eps, epsilon, eps_root, weight_decay, learning_rate,   >= 0            < 0
      lr, initial_accumulator_value, momentum_decay,
      max_delta
    max_norm                                               > 0             <= 0

`decay` follows the EMA convention [0, 1); `trace`'s decay (momentum,
[0, 1]) is the exception: pass `ranges={"decay": ...}` to override any row.
"""

import inspect
import math
from typing import Any, Callable, Mapping, Optional, Sequence

import hypothesis.extra.numpy as hnp
import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import strategies as st

from jaxopt_edu.testing.trees import DEFAULT_DTYPES

# name -> (low, high, low_inclusive, high_inclusive): the valid range.
RANGES: dict[str, tuple[float, float, bool, bool]] = {
    **{name: (0.0, 1.0, True, False) for name in ("b1", "b2", "b3", "beta", "beta1", "beta2", "beta_1", "beta_2",
                                                 "decay")},
    **{name: (0.0, 1.0, True, True) for name in ("momentum", "rho", "dampening")},
    **{name: (0.0, math.inf, True, True) for name in ("eps", "epsilon", "eps_root", "weight_decay", "learning_rate",
                                                      "lr", "initial_accumulator_value", "momentum_decay",
                                                      "max_delta")},
    "max_norm": (0.0, math.inf, False, True),
}


def arrays(dtype: Any = jnp.float32, shape: Any = None, *, bound: float = 10.0,
           max_dims: int = 2, max_side: int = 3, allow_empty: bool = True) -> st.SearchStrategy:
    """One jax array of `dtype` with finite values in [-bound, bound] (drawn as float16-exact numbers,
    so they are exact in every float dtype). `shape` fixed, or drawn (0-d included; a side of 0 if
    `allow_empty`)."""
    shapes = st.just(tuple(shape)) if shape is not None else hnp.array_shapes(
        min_dims=0, max_dims=max_dims, min_side=0 if allow_empty else 1, max_side=max_side)
    elements = st.floats(-bound, bound, allow_nan=False, allow_infinity=False, width=16)
    return shapes.flatmap(lambda s: hnp.arrays(np.float32, s, elements=elements)).map(
        lambda a: jnp.asarray(a, dtype))


def pytrees(dtypes: Sequence[Any] = DEFAULT_DTYPES, *, max_leaves: int = 5, max_dims: int = 2,
            max_side: int = 3, allow_empty: bool = True) -> st.SearchStrategy:
    """Nested dicts, lists and tuples of `arrays`, each leaf's dtype drawn from `dtypes`."""
    leaves = st.sampled_from(tuple(dtypes)).flatmap(
        lambda d: arrays(d, max_dims=max_dims, max_side=max_side, allow_empty=allow_empty))
    return st.recursive(
        leaves,
        lambda children: st.one_of(
            st.lists(children, min_size=1, max_size=3),
            st.lists(children, min_size=1, max_size=3).map(tuple),
            st.dictionaries(st.sampled_from("abcd"), children, min_size=1, max_size=3),
        ),
        max_leaves=max_leaves,
    )


def gradients_like(params: Any, *, bound: float = 10.0, allow_zero: bool = True) -> st.SearchStrategy:
    """Gradients with the tree, shapes and dtypes of `params` (all-zero leaves possible if `allow_zero`)."""
    leaves, treedef = jax.tree.flatten(params)
    drawn = [arrays(jnp.result_type(p), jnp.shape(p), bound=bound) for p in leaves]
    if allow_zero:
        drawn = [st.one_of(d, st.just(jnp.zeros(jnp.shape(p), jnp.result_type(p)))) for d, p in zip(drawn, leaves)]
    return st.tuples(*drawn).map(lambda values: jax.tree.unflatten(treedef, list(values)))


def _valid_values(low, high, low_inclusive, high_inclusive) -> st.SearchStrategy:
    high = min(high, 10.0) if math.isinf(high) else high
    return st.floats(low, high, exclude_min=not low_inclusive, exclude_max=not high_inclusive,
                     allow_nan=False, allow_infinity=False)


def _invalid_values(low, high, low_inclusive, high_inclusive) -> st.SearchStrategy:
    options = [st.floats(-10.0, low, exclude_max=low_inclusive, allow_nan=False)]
    if not math.isinf(high):
        options.append(st.floats(high, high + 10.0, exclude_min=high_inclusive, allow_nan=False))
    return st.one_of(*options)


def hyperparameters(factory: Callable, valid: bool = True, *,
                    ranges: Optional[Mapping[str, tuple]] = None) -> st.SearchStrategy:
    """Keyword arguments for `factory`, from its signature and `RANGES` (see the module docstring).

    valid=True: every known float hyperparameter drawn within its range (the
    others keep their defaults), so `factory(**kwargs)` must build.
    valid=False: pairs `(name, kwargs)`, kwargs as above but with `name`
    drawn outside its range, so `factory(**kwargs)` must raise a ValueError
    naming `name`.
    """
    table = {**RANGES, **(ranges or {})}
    known = {}
    for name, parameter in inspect.signature(factory).parameters.items():
        if name in table and parameter.kind in (parameter.POSITIONAL_OR_KEYWORD, parameter.KEYWORD_ONLY):
            default = parameter.default
            if default is parameter.empty or (isinstance(default, (int, float)) and not isinstance(default, bool)):
                known[name] = table[name]
    if not known:
        if not valid:
            raise ValueError(f"{getattr(factory, '__name__', factory)} has no hyperparameter with a known range "
                             f"(known names: {sorted(table)}); pass ranges=.")
        return st.just({})
    valid_draws = st.fixed_dictionaries({name: _valid_values(*bounds) for name, bounds in known.items()})
    if valid:
        return valid_draws

    def one_wrong(name):
        return st.tuples(valid_draws, _invalid_values(*known[name])).map(
            lambda pair: (name, {**pair[0], name: pair[1]}))

    return st.sampled_from(sorted(known)).flatmap(one_wrong)


__all__ = ["RANGES", "arrays", "pytrees", "gradients_like", "hyperparameters"]
