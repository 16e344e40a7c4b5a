"""The properties every gradient transformation must have, one function each.

Each `assert_<property>(tx, params=None, *, steps=2, seed=0, dtypes=...)`
runs `tx` on `params` (by default `trees.nested_params(dtypes, seed)`: dicts,
lists, tuples, a scalar and a zero-size leaf) with `steps` random gradients,
and raises an `AssertionError` whose message starts with the property's name
and names the leaf (`jax.tree_util.keystr` path) and what was seen:

    pure                    init/update give the same outputs for the same inputs (no Python-side state)
    jit_matches_eager       jit(update) equals update within the leaf dtype's rounding
    dtype_preserved         the updates have the gradients' tree, and each leaf its shape and dtype
    state_structure_stable  the state keeps its tree, shapes and dtypes across steps (scan / donation safe)
    traces_once             jit(update) traces once for repeated calls with the same shapes
    vmappable               vmap(init), vmap(update) over a batch of params / grads equal one at a time
    finite_updates          finite params and gradients (random, and all zero) give finite updates
    params_none_handled     update(grads, state) without params works, or raises an error naming `params`
    state_follows_sharding  on several devices, the state leaves take their params leaf's sharding

`check.check_transformation` runs them all on one shared `Case`, so `update`
is compiled once (and `vmap(update)` once) per check. Library-neutral: any
object with optax's `init(params)` / `update(updates, state, params=None)`.
"""

import functools
from typing import Any, Callable, Iterable, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxopt_edu.testing import trees

# Relative tolerance of a comparison, by the dtype of the leaf compared: a few units in the last place.
_TOLERANCE = {
    jnp.dtype(jnp.float64): 1e-9,
    jnp.dtype(jnp.float32): 1e-5,
    jnp.dtype(jnp.float16): 4e-3,
    jnp.dtype(jnp.bfloat16): 3e-2,
}


# ---- messages -------------------------------------------------------------------------

def _keystr(path) -> str:
    return jax.tree_util.keystr(path) or "<root>"


def _describe(x: Any) -> str:
    """`bfloat16(3, 2) [0.1, -0.5, ...]`: dtype, shape and the first values of a leaf."""
    if x is None:
        return "None"
    array = np.asarray(jax.device_get(x)) if not isinstance(x, jax.ShapeDtypeStruct) else None
    dtype, shape = jnp.result_type(x), tuple(jnp.shape(x))
    if array is None:
        return f"{dtype}{shape}"
    values = np.asarray(array, np.float64 if jnp.issubdtype(dtype, jnp.inexact) else array.dtype).reshape(-1)
    shown = np.array2string(values[:4], precision=4, separator=", ")
    return f"{dtype}{shape} {shown[:-1]}{', ...]' if values.size > 4 else ']'}"


def _fail(prop: str, message: str) -> None:
    raise AssertionError(f"{prop}: {message}")


# ---- the shared setting -----------------------------------------------------------------

class Case:
    """One transformation, its params and gradient stream, with every run computed at most once.

    `eager` and `jitted` are the trajectories from `tx.init(params)`: lists of
    (updates, state) after each step, the params held fixed (as in a race of
    the update rule alone). `jitted_update` is the one compiled `update`,
    counting its traces.
    """

    def __init__(self, tx: Any, params: Any = None, *, steps: int = 2, seed: int = 0,
                 dtypes: Sequence[Any] = trees.DEFAULT_DTYPES, grads: Optional[Sequence[Any]] = None):
        if not (hasattr(tx, "init") and hasattr(tx, "update")):
            raise TypeError(f"expected a gradient transformation (init, update), got {type(tx).__name__}; "
                            "did you pass the factory instead of calling it?")
        if steps < 1:
            raise ValueError(f"steps must be >= 1, got {steps}.")
        self.tx, self.steps, self.seed, self.dtypes = tx, steps, seed, tuple(dtypes)
        self.params = trees.nested_params(dtypes, seed) if params is None else params
        self.grads = list(grads) if grads is not None else [
            trees.gradients_like(self.params, seed=seed + 1 + step) for step in range(steps)]
        self.steps = len(self.grads)
        self.traces: list = []  # the abstract (grads, state, params) of each trace of jitted_update

    # -- building blocks ----------------------------------------------------------------------
    @functools.cached_property
    def init_state(self) -> Any:
        try:
            return self.tx.init(self.params)
        except Exception as error:  # noqa: BLE001
            _fail("init", f"init(params) fails: {type(error).__name__}: {_first_line(error)}")

    @functools.cached_property
    def jitted_update(self) -> Callable:
        def counted(grads, state, params):
            self.traces.append(jax.tree.map(
                lambda x: (tuple(x.shape), x.dtype, bool(getattr(getattr(x, "aval", None), "weak_type", False))),
                (grads, state, params)))
            return self.tx.update(grads, state, params)

        return jax.jit(counted)

    def run(self, update: Callable, grads_seq: Sequence[Any], params: Any = None, state: Any = None) -> list:
        params = self.params if params is None else params
        state = self.init_state if state is None else state
        out = []
        for grads in grads_seq:
            updates, state = update(grads, state, params)
            out.append((updates, state))
        return out

    @functools.cached_property
    def eager(self) -> list:
        try:
            return self.run(self.tx.update, self.grads)
        except Exception as error:  # noqa: BLE001
            _fail("eager_update", f"update(grads, state, params) fails: {type(error).__name__}: {_first_line(error)}")

    @functools.cached_property
    def jitted(self) -> list:
        try:
            return self.run(self.jitted_update, self.grads)
        except Exception as error:  # noqa: BLE001 -- any failure to trace is the finding
            _fail("jit_matches_eager", f"jit(update) fails: {_jit_failure_location(self)}"
                                       f"{type(error).__name__}: {_first_line(error)}")

    def second_params(self) -> tuple[Any, list]:
        """Other params and gradients of the same shapes (the second element of a vmap batch)."""
        params = jax.tree.map(lambda p, q: q.astype(jnp.result_type(p)), self.params,
                              trees.gradients_like(self.params, seed=self.seed + 1000))
        grads = [trees.gradients_like(self.params, seed=self.seed + 2000 + step) for step in range(self.steps)]
        return params, grads


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else repr(error)


def _jit_failure_location(case: Case) -> str:
    """'tracing the input grads['w'] (...) raises ' -- the input whose tracing breaks update, one leaf at a time.

    Every other input stays concrete (`jax.ensure_compile_time_eval`), so
    Python control flow or `float()` on it works; the leaf whose abstract
    value breaks tracing is the culprit.
    """
    inputs = (case.grads[0], case.init_state, case.params)
    flat, treedef = jax.tree_util.tree_flatten_with_path(inputs)
    leaves = [leaf for _, leaf in flat]
    names = ("grads", "state", "params")
    for index, (path, leaf) in enumerate(flat):

        def with_traced(x, index=index):
            grads, state, params = jax.tree.unflatten(treedef, leaves[:index] + [x] + leaves[index + 1:])
            with jax.ensure_compile_time_eval():
                return case.tx.update(grads, state, params)

        try:
            jax.eval_shape(with_traced, leaf)
        except Exception:  # noqa: BLE001
            return f"tracing the input {names[path[0].idx]}{_keystr(path[1:])} ({_describe(leaf)}) raises "
    return ""


# ---- comparisons ------------------------------------------------------------------------

def tolerance(dtypes: Sequence[Any]) -> float:
    """The loosest relative tolerance of `dtypes` (a leaf may depend on every leaf, e.g. via a global norm)."""
    return max((_TOLERANCE.get(jnp.dtype(d), 1e-5) for d in dtypes
                if jnp.issubdtype(jnp.dtype(d), jnp.inexact)), default=0.0)


def _leaf_mismatch(a: Any, b: Any, tol_floor: float = 0.0, scale: Any = None) -> Optional[str]:
    """None when leaves a and b agree within tolerance (see `_first_mismatch`), else what differs."""
    a, b = jnp.asarray(a), jnp.asarray(b)
    if a.shape != b.shape or a.dtype != b.dtype:
        return f"{_describe(a)} against {_describe(b)}"
    if a.size == 0:
        return None
    x, y = np.asarray(a), np.asarray(b)
    if not jnp.issubdtype(b.dtype, jnp.inexact):
        return None if np.array_equal(x, y) else f"{_describe(a)} against {_describe(b)}"
    x, y = x.astype(np.float64), y.astype(np.float64)
    same_nan = np.isnan(x) == np.isnan(y)
    both = ~np.isnan(x) & ~np.isnan(y)
    tol = max(_TOLERANCE.get(b.dtype, 1e-5), tol_floor)
    finite_y = np.abs(y[both & np.isfinite(y)])
    largest = finite_y.max() if finite_y.size else 0.0
    if scale is not None and np.size(scale):
        largest = max(largest, float(np.max(np.abs(np.asarray(scale, np.float64)))))
    floor = tol * largest
    with np.errstate(invalid="ignore"):
        close = np.where(both, (x == y) | (np.abs(x - y) <= tol * np.abs(y) + floor), True)
    if same_nan.all() and close.all():
        return None
    with np.errstate(invalid="ignore"):
        worst = float(np.nanmax(np.where(both, np.abs(x - y), 0.0))) if both.any() else float("nan")
    return f"{_describe(a)} against {_describe(b)} (largest difference {worst:.3g}, tolerance {tol:g} relative)"


def _children(tree: Any) -> list:
    """The (key path, child) pairs one level below the root of `tree`."""
    return jax.tree_util.tree_flatten_with_path(tree, is_leaf=lambda node: node is not tree)[0]


def _kind(tree: Any) -> str:
    treedef = jax.tree.structure(tree)
    if treedef.num_nodes == 1 and treedef.num_leaves == 1:
        return f"a leaf {_describe(tree)}" if hasattr(tree, "shape") else f"a leaf {type(tree).__name__}"
    return f"a {type(tree).__name__} with keys {[_keystr(p) for p, _ in _children(tree)]}"


def structure_difference(a: Any, b: Any, path: str = "") -> Optional[str]:
    """Where trees a and b first differ in structure: 'node ['b']: a tuple ... against a list ...', or None."""
    tree_a, tree_b = jax.tree.structure(a), jax.tree.structure(b)
    if tree_a == tree_b:
        return None
    leaf_a = tree_a.num_nodes == 1 and tree_a.num_leaves == 1
    leaf_b = tree_b.num_nodes == 1 and tree_b.num_leaves == 1
    children_a, children_b = ([] if leaf_a else _children(a)), ([] if leaf_b else _children(b))
    keys_a, keys_b = [_keystr(p) for p, _ in children_a], [_keystr(p) for p, _ in children_b]
    if leaf_a or leaf_b or type(a) is not type(b) or keys_a != keys_b:
        return f"node {path or '<root>'}: {_kind(a)} against {_kind(b)}"
    for (key, child_a), (_, child_b) in zip(children_a, children_b):
        found = structure_difference(child_a, child_b, path + jax.tree_util.keystr(key))
        if found:
            return found
    return f"node {path or '<root>'}: {tree_a} against {tree_b}"


def _unwrap_random_keys(tree: Any) -> Any:
    """Typed random keys (`jax.random.key`, e.g. in add_noise's state) as their uint32 key data,
    which numpy can compare."""
    return jax.tree.map(
        lambda x: jax.random.key_data(x)
        if isinstance(x, jax.Array) and jnp.issubdtype(x.dtype, jax.dtypes.prng_key) else x, tree)


def _first_mismatch(a: Any, b: Any, exact: bool = False, tol_floor: float = 0.0,
                    scale: Any = None) -> Optional[tuple[str, str]]:
    """(path, what) of the first leaf where trees a and b differ (structure first), or None.

    Not `exact`: within the tolerance of the leaf's dtype or `tol_floor`,
    whichever is larger, relative to each value plus the largest value of
    the leaf (or of the matching leaf of `scale`, when given and larger).
    """
    a, b = _unwrap_random_keys(a), _unwrap_random_keys(b)
    structural = structure_difference(a, b)
    if structural is not None:
        return "<structure>", structural
    scales = [None] * len(jax.tree.leaves(b)) if scale is None else jax.tree.leaves(scale)
    for (path, x), y, z in zip(jax.tree_util.tree_flatten_with_path(a)[0], jax.tree.leaves(b), scales):
        if exact:
            x_arr, y_arr = np.asarray(x), np.asarray(y)
            same = (x_arr.shape == y_arr.shape and jnp.result_type(x) == jnp.result_type(y)
                    and np.array_equal(x_arr, y_arr, equal_nan=jnp.issubdtype(jnp.result_type(y), jnp.inexact)))
            what = None if same else f"{_describe(x)} against {_describe(y)}"
        else:
            what = _leaf_mismatch(x, y, tol_floor, z)
        if what is not None:
            return _keystr(path), what
    return None


# ---- the properties, on a Case ----------------------------------------------------------

def check_pure(case: Case) -> None:
    tx = case.tx
    try:
        again = tx.init(case.params)
    except Exception as error:  # noqa: BLE001
        _fail("pure", f"init fails when called again on the same params: {type(error).__name__}: {_first_line(error)}")
    found = _first_mismatch(again, case.init_state, exact=True)
    if found:
        _fail("pure", f"init(params) called twice on the same params differs at state leaf {found[0]}: "
                      f"{found[1]} (second call against first)")
    first = case.eager[0]
    try:
        second = tx.update(case.grads[0], case.init_state, case.params)
    except Exception as error:  # noqa: BLE001
        _fail("pure", f"update fails when called again on the same inputs: {type(error).__name__}: "
                      f"{_first_line(error)}")
    for name, index in (("updates", 0), ("state", 1)):
        found = _first_mismatch(second[index], first[index], exact=True)
        if found:
            _fail("pure", f"update called twice on the same (grads, state, params) returned different {name} "
                          f"at leaf {found[0]}: {found[1]} (second call against first). update must not keep "
                          "Python-side state (counters, caches); keep it in the returned state.")


def check_dtype_preserved(case: Case, prop: str = "dtype_preserved") -> None:
    for step, (updates, _) in enumerate(case.eager, start=1):
        _check_like_grads(updates, case.grads[step - 1], f"step {step}", prop)


def _check_like_grads(updates: Any, grads: Any, when: str, prop: str) -> None:
    difference = structure_difference(updates, grads)
    if difference is not None:
        _fail(prop, f"the updates do not have the gradients' tree ({when}): they differ at {difference} "
                    "(updates against gradients)")
    for (path, u), g in zip(jax.tree_util.tree_flatten_with_path(updates)[0], jax.tree.leaves(grads)):
        if tuple(jnp.shape(u)) != tuple(jnp.shape(g)) or jnp.result_type(u) != jnp.result_type(g):
            _fail(prop, f"updates leaf {_keystr(path)} is {jnp.result_type(u)}{tuple(jnp.shape(u))} but the "
                        f"gradient leaf is {jnp.result_type(g)}{tuple(jnp.shape(g))} ({when}); an update must "
                        "keep each leaf's shape and dtype (compute wider inside, cast back)")


def check_state_structure_stable(case: Case) -> None:
    for step, (_, state) in enumerate(case.eager, start=1):
        difference = structure_difference(state, case.init_state)
        if difference is not None:
            _fail("state_structure_stable", f"the state's tree changed after step {step}: it differs at "
                                            f"{difference} (after against before); lax.scan and donation need "
                                            "a state of fixed structure")
        for (path, leaf), leaf0 in zip(jax.tree_util.tree_flatten_with_path(state)[0],
                                       jax.tree.leaves(case.init_state)):
            shape, dtype = tuple(jnp.shape(leaf)), jnp.result_type(leaf)
            shape0, dtype0 = tuple(jnp.shape(leaf0)), jnp.result_type(leaf0)
            if shape != shape0 or dtype != dtype0:
                _fail("state_structure_stable", f"state leaf {_keystr(path)} was {dtype0}{shape0} after init and "
                                                f"is {dtype}{shape} after step {step}")


def _compared(case: Case, updates_a, state_a, updates_b, state_b) -> Iterable:
    """What to compare: updates to the rounding of the params they are added to, the state to its own."""
    floor = tolerance(jnp.result_type(leaf) for leaf in jax.tree.leaves(case.params))
    yield "updates", _first_mismatch(updates_a, updates_b, tol_floor=floor, scale=case.params)
    yield "state", _first_mismatch(state_a, state_b, tol_floor=floor)


def check_jit_matches_eager(case: Case) -> None:
    for step, ((eager_u, eager_s), (jit_u, jit_s)) in enumerate(zip(case.eager, case.jitted), start=1):
        for name, found in _compared(case, jit_u, jit_s, eager_u, eager_s):
            if found:
                _fail("jit_matches_eager", f"jit(update) and update differ at {name} leaf {found[0]} after step "
                                           f"{step}: {found[1]} (jit against eager)")


def check_traces_once(case: Case) -> None:
    case.jitted  # noqa: B018 -- runs the jitted trajectory (steps calls of one compiled update)
    if len(case.traces) > 1:
        first, second = case.traces[0], case.traces[1]
        where = ""
        found = structure_difference(second, first)
        if found is not None:
            where = f"; the inputs' trees differ at {found}"
        else:
            is_sig = lambda x: isinstance(x, tuple) and len(x) == 3 and isinstance(x[1], np.dtype)  # noqa: E731
            names = ("grads", "state", "params")
            for (path, b), a in zip(jax.tree_util.tree_flatten_with_path(second, is_leaf=is_sig)[0],
                                    jax.tree.leaves(first, is_leaf=is_sig)):
                if a != b:
                    where = (f"; input {names[path[0].idx]}{_keystr(path[1:])} was "
                             f"{a[1]}{a[0]}{' weak-typed' if a[2] else ''} on the first call and "
                             f"{b[1]}{b[0]}{' weak-typed' if b[2] else ''} on the next")
                    break
        _fail("traces_once", f"jit(update) traced {len(case.traces)} times over {case.steps} calls with the same "
                             f"params and gradient shapes{where}. The state an update returns must have exactly "
                             "the avals of the state it was given (shape, dtype, weak type).")


def check_finite_updates(case: Case) -> None:
    runs = (("random gradients", case.grads, case.eager),
            ("zero gradients", None, None))
    for what, grads_seq, trajectory in runs:
        if trajectory is None:
            grads_seq = [trees.zeros_like(case.params)] * case.steps
            trajectory = case.run(case.jitted_update, grads_seq)
        for step, (updates, _) in enumerate(trajectory, start=1):
            for path, u in jax.tree_util.tree_flatten_with_path(updates)[0]:
                if jnp.issubdtype(jnp.result_type(u), jnp.inexact) and not bool(jnp.all(jnp.isfinite(u))):
                    _fail("finite_updates", f"updates leaf {_keystr(path)} is not finite at step {step} for "
                                            f"finite params and {what}: {_describe(u)}")


def check_vmappable(case: Case) -> None:
    """One vmapped step from a vmapped init (the state's avals across steps are `state_structure_stable`'s)."""
    other_params, other_grads = case.second_params()
    batch_params = trees.stack([case.params, other_params])
    try:
        state = jax.vmap(case.tx.init)(batch_params)
        # eager: its ops are cached across checks, cheaper than compiling vmap(update) for one step
        updates, state = jax.vmap(case.tx.update)(trees.stack([case.grads[0], other_grads[0]]), state, batch_params)
    except Exception as error:  # noqa: BLE001
        _fail("vmappable", f"vmap over a batch of 2 params/gradients fails: {type(error).__name__}: "
                           f"{_first_line(error)}")
    singles = (case.jitted[0], case.run(case.jitted_update, other_grads[:1], params=other_params,
                                        state=case.tx.init(other_params))[0])
    for index, (u, s) in enumerate(singles):
        for name, found in _compared(case, trees.unstack(updates, index), trees.unstack(state, index), u, s):
            if found:
                _fail("vmappable", f"element {index} of vmap(update) differs from update on it alone at {name} "
                                   f"leaf {found[0]} after step 1: {found[1]} (vmap against alone)")


def check_params_none_handled(case: Case) -> None:
    def without_params(grads, state):
        return case.tx.update(grads, state)

    try:
        updates, _ = jax.eval_shape(without_params, case.grads[0], case.init_state)
    except Exception as error:  # noqa: BLE001
        if "param" in str(error).lower():
            return  # the need for params is reported, naming them
        _fail("params_none_handled", f"update(grads, state) without params raises {type(error).__name__}: "
                                     f"{_first_line(error)}; a transformation that needs the params must say so "
                                     "(e.g. ValueError('... needs the params: call update(grads, state, params)'))")
    _check_like_grads(updates, case.grads[0], "update without params", "params_none_handled")


def check_state_follows_sharding(case: Case) -> None:
    """On a 1-D mesh of all devices, params {"kernel": (2n, 3), "bias": (4n,)} sharded along their
    first axis: every state / updates leaf of a param's shape must have its sharding, after init and
    after a jitted update. Passes without checking on a single device."""
    devices = jax.devices()
    if len(devices) < 2:
        return
    from jax.sharding import Mesh, NamedSharding, PartitionSpec

    mesh = Mesh(np.array(devices), ("devices",))
    count = len(devices)
    dtypes = case.dtypes or trees.DEFAULT_DTYPES
    params = {"kernel": jnp.ones((2 * count, 3), dtypes[0]) * 0.5, "bias": jnp.ones((4 * count,), dtypes[-1])}
    shardings = {name: NamedSharding(mesh, PartitionSpec("devices")) for name in params}
    params = jax.device_put(params, shardings)
    grads = jax.device_put(trees.gradients_like(params, seed=case.seed + 7), shardings)
    by_shape = {tuple(leaf.shape): (name, shardings[name]) for name, leaf in params.items()}
    state = case.tx.init(params)
    _check_sharded_like(by_shape, (("state after init", state),))
    try:
        updates, new_state = jax.jit(case.tx.update)(grads, state, params)
    except Exception as error:  # noqa: BLE001
        _fail("state_follows_sharding", f"jit(update) on params sharded over {count} devices fails: "
                                        f"{type(error).__name__}: {_first_line(error)}")
    _check_sharded_like(by_shape, (("updates", updates), ("state after update", new_state)))


def _check_sharded_like(by_shape: dict, labelled_trees) -> None:
    for label, tree in labelled_trees:
        for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
            match = by_shape.get(tuple(jnp.shape(leaf)))
            if match and hasattr(leaf, "sharding") and not leaf.sharding.is_equivalent_to(match[1], leaf.ndim):
                _fail("state_follows_sharding", f"{label} leaf {_keystr(path)} {_describe(leaf)} has sharding "
                                                f"{leaf.sharding}, not that of params['{match[0]}'] ({match[1]})")


# ---- public: one property at a time -----------------------------------------------------

def _public(check: Callable, name: str) -> Callable:
    def assert_property(tx: Any, params: Any = None, *, steps: int = 2, seed: int = 0,
                        dtypes: Sequence[Any] = trees.DEFAULT_DTYPES) -> None:
        check(Case(tx, params, steps=steps, seed=seed, dtypes=dtypes))

    assert_property.__name__ = assert_property.__qualname__ = name
    assert_property.__doc__ = (
        f"Raises AssertionError unless `tx` has the property `{name.removeprefix('assert_')}` "
        "(see the module docstring), checked on `params` (default: trees.nested_params(dtypes, seed)) "
        "over `steps` random gradients.")
    return assert_property


assert_pure = _public(check_pure, "assert_pure")
assert_jit_matches_eager = _public(check_jit_matches_eager, "assert_jit_matches_eager")
assert_dtype_preserved = _public(check_dtype_preserved, "assert_dtype_preserved")
assert_state_structure_stable = _public(check_state_structure_stable, "assert_state_structure_stable")
assert_traces_once = _public(check_traces_once, "assert_traces_once")
assert_vmappable = _public(check_vmappable, "assert_vmappable")
assert_finite_updates = _public(check_finite_updates, "assert_finite_updates")
assert_params_none_handled = _public(check_params_none_handled, "assert_params_none_handled")
assert_state_follows_sharding = _public(check_state_follows_sharding, "assert_state_follows_sharding")

__all__ = [
    "Case",
    "assert_pure",
    "assert_jit_matches_eager",
    "assert_dtype_preserved",
    "assert_state_structure_stable",
    "assert_traces_once",
    "assert_vmappable",
    "assert_finite_updates",
    "assert_params_none_handled",
    "assert_state_follows_sharding",
]
