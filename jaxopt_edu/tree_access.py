"""Reading and writing one value of an optimizer state by its name.

    lr    = jo.tree_get(state, "learning_rate")       # inject_hyperparams: the lr the last step used
    count = jo.tree_get(state, "count")               # the one step counter (error if several)
    state = jo.tree_set(state, learning_rate=1e-4)    # a new state; shapes and dtypes checked

A name is the last step of a path in the state: a NamedTuple field (`count`,
`mu`, `hyperparams`), a dict key (`"learning_rate"`, a `named_chain` name), an
attribute of another pytree node, or the class name of a NamedTuple
(`"ScaleByAdamState"`, which gives the whole sub-state). Any state works:
chains (tuples), named chains (dicts), `inject_hyperparams`, `masked` and
`multi_transform` states, optax's states alike. Both functions are plain
Python over the structure (static), so they work inside `jit` and cost
nothing there.
"""

import difflib
from typing import Any, Iterator, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np


class TreeKeyError(KeyError):
    """No value, or several, in a tree for a name given to `tree_get` / `tree_set`."""

    def __str__(self) -> str:  # KeyError would show the message in quotes
        return str(self.args[0]) if self.args else ""


class _Match(NamedTuple):
    path: tuple  # jax key entries from the root
    value: Any


_RAISE = object()  # tree_get's default: raise when the name is not found


def _is_named_tuple(node: Any) -> bool:
    return isinstance(node, tuple) and hasattr(type(node), "_fields")


def _children(node: Any) -> list[tuple[Any, Any]]:
    """(key entry, child) for each direct child of a pytree node; [] for a leaf."""
    if node is None:
        return []
    entries, _ = jax.tree_util.tree_flatten_with_path(node, is_leaf=lambda x: x is not node)
    if len(entries) == 1 and entries[0][0] == ():
        return []  # node is a leaf itself
    return [(path[0], child) for path, child in entries]


def _name(entry: Any) -> Any:
    """The name a key entry stands for: a dict key or an attribute name (None for an index)."""
    if isinstance(entry, jax.tree_util.DictKey):
        return entry.key
    if isinstance(entry, jax.tree_util.GetAttrKey):
        return entry.name
    return None


def _hidden_schedule_states(node: Any) -> frozenset:
    """For an optax inject_hyperparams state, the names whose `hyperparams_states` entry is only
    the schedule's bookkeeping (its value is `hyperparams[name]`)."""
    if _is_named_tuple(node) and {"hyperparams", "hyperparams_states"} <= set(node._fields):
        if isinstance(node.hyperparams, dict) and isinstance(node.hyperparams_states, dict):
            return frozenset(node.hyperparams_states) & frozenset(node.hyperparams)
    return frozenset()


def _walk(node: Any, path: tuple = ()) -> Iterator[tuple[tuple, Any]]:
    """Every (path, node) of the tree, the root first, skipping optax's scheduled-hyperparameter
    bookkeeping (`InjectStatefulHyperparamsState.hyperparams_states[name]`)."""
    yield path, node
    hidden = _hidden_schedule_states(node)
    for entry, child in _children(node):
        if hidden and _name(entry) == "hyperparams_states":
            child = {name: value for name, value in child.items() if name not in hidden}
        yield from _walk(child, path + (entry,))


def _matches(tree: Any, key: Any) -> list[_Match]:
    found = []
    for path, node in _walk(tree):
        if path and _name(path[-1]) == key:
            found.append(_Match(path, node))
        elif _is_named_tuple(node) and type(node).__name__ == key:
            found.append(_Match(path, node))
    return found


def _names(tree: Any) -> list[str]:
    names = set()
    for path, node in _walk(tree):
        if path and isinstance(_name(path[-1]), str):
            names.add(_name(path[-1]))
        if _is_named_tuple(node):
            names.add(type(node).__name__)
    return sorted(names)


def _expression(path: tuple) -> str:
    return "tree" + jax.tree_util.keystr(path)


def _not_found(tree: Any, key: Any, caller: str) -> TreeKeyError:
    names = _names(tree)
    close = difflib.get_close_matches(str(key), names, n=3)
    hint = f" Did you mean {', '.join(repr(name) for name in close)}?" if close else ""
    return TreeKeyError(
        f"{caller}: no value named {key!r} in the tree.{hint} The names in it are: "
        f"{', '.join(names) if names else '(none: the tree has no named entries)'}."
    )


def _subtree(tree: Any, path: tuple) -> Any:
    for entry in path:
        tree = dict(_children(tree))[entry]
    return tree


def _several(tree: Any, key: Any, found: list[_Match], caller: str) -> TreeKeyError:
    paths = "; ".join(_expression(match.path) for match in found)
    # A sub-state holding exactly one of them, to show how to pick it.
    parents = [match.path[:-1] for match in found if match.path]
    unique = [parent for parent in parents if len(_matches(_subtree(tree, parent), key)) == 1]
    argument = f"{key!r}" if caller == "tree_get" else f"{key}=..."
    example = f", e.g. jo.{caller}({_expression(unique[0])}, {argument})" if unique else ""
    return TreeKeyError(
        f"{caller}: {len(found)} values named {key!r} in the tree, at {paths}. Say which one: call "
        f"{caller} on the sub-state that holds it{example}, or index the tree directly as above."
    )


def _check_key(key: Any, caller: str) -> None:
    try:
        hash(key)
    except TypeError:
        raise TypeError(f"{caller}: key must be a name (a str, or another dict key), got {key!r}.") from None


def tree_get(tree: Any, key: Any, default: Any = _RAISE) -> Any:
    """The one value in `tree` whose path ends with `key`.

        jo.tree_get(state, "count")                  # an Array
        jo.tree_get(state, "mu")                     # a pytree shaped like the params
        jo.tree_get(state, "ScaleByAdamState")       # the whole sub-state of that class

    `key` is a NamedTuple field, a dict key, an attribute name, or a NamedTuple
    class name. For an `inject_hyperparams` state the value of a hyperparameter
    is `state.hyperparams[key]`, the value the latest update used (for a
    schedule: its value at the latest step; before any step, at step 0); optax's
    `hyperparams_states` entry for the same schedule is its bookkeeping and is
    not counted as a second value. Raises `TreeKeyError` (a KeyError) naming
    the names the tree has when there is no such value (unless `default` is
    given, which is then returned), and listing the paths when there are
    several (whatever `default` is): call `tree_get` on the sub-state that
    holds the one you mean, e.g. `jo.tree_get(state[0], "count")`.

    Differences from `optax.tree_utils.tree_get` (0.2.8): optax returns
    `default=None` when nothing is found and raises a bare KeyError that
    prints the whole tree when several are; optax counts a scheduled
    hyperparameter twice (in `hyperparams` and `hyperparams_states`) so its
    learning rate needs a `filtering` function, which `tree_get` does not
    take (select a sub-state instead).
    """
    _check_key(key, "tree_get")
    found = _matches(tree, key)
    if len(found) > 1:
        raise _several(tree, key, found, "tree_get")
    if not found:
        if default is _RAISE:
            raise _not_found(tree, key, "tree_get")
        return default
    return found[0].value


def _is_array_like(x: Any) -> bool:
    return isinstance(x, (jax.Array, np.ndarray, np.generic, float, int, complex, bool))


def _checked_leaf(old: Any, new: Any, where: str) -> Any:
    """`new` as an array of `old`'s shape and dtype; ValueError / TypeError saying what differs."""
    if not _is_array_like(old):
        return new
    old_dtype = jnp.result_type(old)
    new_array = new if isinstance(new, jax.Array) else jnp.asarray(new)
    if np.shape(old) != np.shape(new_array):
        raise ValueError(
            f"tree_set: {where} has shape {np.shape(old)} but the new value has shape "
            f"{np.shape(new_array)}; pass a value of shape {np.shape(old)}."
        )
    new_dtype = jnp.result_type(new_array)
    if jnp.issubdtype(old_dtype, jax.dtypes.prng_key) or jnp.issubdtype(new_dtype, jax.dtypes.prng_key):
        compatible = old_dtype == new_dtype
    else:
        compatible = bool(np.can_cast(new_dtype, old_dtype, casting="same_kind"))
    if not compatible:
        raise TypeError(
            f"tree_set: {where} has dtype {old_dtype} and the new value {new!r} has dtype "
            f"{new_dtype}, which does not convert to it without losing its kind; pass a value of dtype {old_dtype}."
        )
    if new_dtype == old_dtype or not isinstance(old, (jax.Array, np.ndarray, np.generic)):
        return new_array
    return new_array.astype(old_dtype)


def _checked(old: Any, new: Any, where: str) -> Any:
    """`new` checked against the subtree `old` it replaces: same structure, then leaf by leaf."""
    if _is_array_like(old) or old is None:
        return _checked_leaf(old, new, where)
    old_leaves, old_def = jax.tree.flatten(old)
    new_leaves, new_def = jax.tree.flatten(new)
    if old_def != new_def:
        raise ValueError(
            f"tree_set: {where} is a subtree of structure {old_def}, but the new value has structure "
            f"{new_def}; pass a tree of the same structure (e.g. built with jax.tree.map on the old one)."
        )
    paths = [path for path, _ in jax.tree_util.tree_flatten_with_path(old)[0]]
    return old_def.unflatten([
        _checked_leaf(old_leaf, new_leaf, where + jax.tree_util.keystr(path))
        for path, old_leaf, new_leaf in zip(paths, old_leaves, new_leaves)
    ])


def _set_at(node: Any, path: tuple, value: Any) -> Any:
    """A copy of `node` with the value at `path` (jax key entries) replaced by `value`."""
    if not path:
        return value
    entry, rest = path[0], path[1:]
    if type(node) is dict:  # keep the insertion order (e.g. of a named_chain), which unflatten would sort
        return {k: (_set_at(v, rest, value) if _name(entry) == k else v) for k, v in node.items()}
    entries, treedef = jax.tree_util.tree_flatten_with_path(node, is_leaf=lambda x: x is not node)
    return treedef.unflatten(
        [_set_at(child, rest, value) if child_path[0] == entry else child for child_path, child in entries]
    )


def tree_set(tree: Any, **values: Any) -> Any:
    """A new tree with the value named by each keyword replaced (`tree` is not changed).

        state = jo.tree_set(state, learning_rate=1e-4)      # inject_hyperparams: the next steps use it
        state = jo.tree_set(state, count=jnp.asarray(0))

    Each name is found as by `tree_get` and must name exactly one value
    (`TreeKeyError` naming the names the tree has, or listing the paths when
    there are several: then call `tree_set` on the sub-state and put it back).
    The new value must have the old one's shape (ValueError otherwise) and a
    dtype that converts to the old one's without changing kind (TypeError
    otherwise: no float into an int counter); it is stored in the old dtype,
    so the state keeps its structure, shapes and dtypes and a jitted step does
    not recompile. A subtree (e.g. `mu`) is replaced by a tree of the same
    structure, checked leaf by leaf. A scheduled hyperparameter of an
    `inject_hyperparams` state is recomputed from its schedule at every
    update, so setting it changes only what `tree_get` reads until then.

    Differences from `optax.tree_utils.tree_set` (0.2.8): optax replaces every
    match of a name and stores the value as given (no shape or dtype check);
    it takes a `filtering` function, which `tree_set` does not.
    """
    new_tree = tree
    for key, value in values.items():
        found = _matches(new_tree, key)
        if not found:
            raise _not_found(new_tree, key, "tree_set")
        if len(found) > 1:
            raise _several(new_tree, key, found, "tree_set")
        path, old = found[0]
        where = f"{key!r} (at {_expression(path)})"
        new_tree = _set_at(new_tree, path, _checked(old, value, where))
    return new_tree


__all__ = ["tree_get", "tree_set", "TreeKeyError"]
