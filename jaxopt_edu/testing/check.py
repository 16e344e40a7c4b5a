"""`check_transformation`: every property of `properties.py` on one transformation."""

from typing import Any, Optional, Sequence

from jaxopt_edu.testing import properties, trees

# In the order they run: the cheap, eager ones first; each later one relies on the earlier
# (e.g. comparing jit with eager needs updates of the right tree).
PROPERTIES = {
    "pure": properties.check_pure,
    "dtype_preserved": properties.check_dtype_preserved,
    "state_structure_stable": properties.check_state_structure_stable,
    "jit_matches_eager": properties.check_jit_matches_eager,
    "traces_once": properties.check_traces_once,
    "finite_updates": properties.check_finite_updates,
    "vmappable": properties.check_vmappable,
    "params_none_handled": properties.check_params_none_handled,
    "state_follows_sharding": properties.check_state_follows_sharding,
}


def check_transformation(
    tx: Any,
    params: Any = None,
    *,
    steps: int = 3,
    dtypes: Sequence[Any] = trees.DEFAULT_DTYPES,
    seed: int = 0,
    skip: Sequence[str] = (),
    grads: Optional[Sequence[Any]] = None,
) -> None:
    """Runs the conformance battery on `tx` (any object with optax's `init` / `update`).

        jo.testing.check_transformation(my_optimizer(1e-3))

    `params` defaults to `trees.nested_params(dtypes, seed)`: a dict / list /
    tuple tree with a matrix, a vector, a scalar and a zero-size leaf whose
    dtypes cycle through `dtypes`. `steps` random gradients (or the given
    `grads`, one tree per step) drive `steps` updates, params held fixed.
    Raises `AssertionError` at the first broken property, the message
    starting with its name and naming the leaf path and the values seen.
    `skip` names properties not to check (keys of `PROPERTIES`), e.g.
    `skip=("vmappable",)` for a transformation documented not to vmap.
    `update` is compiled once, `vmap(update)` once; `state_follows_sharding`
    runs only when JAX sees several devices.
    """
    unknown = sorted(set(skip) - set(PROPERTIES))
    if unknown:
        raise ValueError(f"skip names unknown properties {unknown}; they are: {', '.join(PROPERTIES)}.")
    case = properties.Case(tx, params, steps=steps, seed=seed, dtypes=dtypes, grads=grads)
    for name, check in PROPERTIES.items():
        if name not in skip:
            check(case)
