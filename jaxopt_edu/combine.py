"""Combinators: ways to build transformations out of other transformations.

They know nothing of any optimizer. Each passes extra keyword arguments of
`update` (e.g. `value=loss`) on to the transformations that take them. `chain` runs transformations one after the
other; `named_chain` does the same with named states; `masked` applies a
transformation to a subset of the params; `multi_transform` applies a
different transformation to each labelled group of params.
"""

from typing import Any, Callable, Hashable, Mapping, NamedTuple, Optional, Union

import jax

from jaxopt_edu.base import (
    EmptyState,
    GradientTransformation,
    Params,
    Updates,
    check_transformation,
    update_with_extra_args,
)


def identity() -> GradientTransformation:
    """Passes updates through unchanged: `u' = u`."""

    def init(params):
        del params
        return EmptyState()

    def update(updates, state, params=None):
        del params
        return updates, state

    return GradientTransformation(init, update)


def stateless(update_fn: Callable[[Updates, Optional[Params]], Updates]) -> GradientTransformation:
    """A transformation with no state from a function `u' = f(u, params)`."""

    def init(params):
        del params
        return EmptyState()

    def update(updates, state, params=None):
        return update_fn(updates, params), state

    return GradientTransformation(init, update)


def chain(*transformations: GradientTransformation) -> GradientTransformation:
    """Applies transformations in order: `u' = t_n(⋯ t_2(t_1(u)))`.

    The state is a tuple with one entry per transformation. `chain()` is the
    identity. Optax transformations may be chained too (same signatures).
    """
    for index, tx in enumerate(transformations):
        check_transformation(tx, f"chain argument {index}")

    def init(params):
        return tuple(tx.init(params) for tx in transformations)

    def update(updates, state, params=None, **extra_args):
        if len(state) != len(transformations):
            raise ValueError(
                f"chain of {len(transformations)} transformations got a state of "
                f"{len(state)} entries; initialise the state with this same chain."
            )
        new_states = []
        for tx, inner_state in zip(transformations, state):
            updates, inner_state = update_with_extra_args(tx, updates, inner_state, params, extra_args)
            new_states.append(inner_state)
        return updates, tuple(new_states)

    return GradientTransformation(init, update)


def named_chain(*named_transformations: tuple[str, GradientTransformation]) -> GradientTransformation:
    """Like `chain`, but the state is a dict `{name: state}`, for readable inspection."""
    names = [name for name, _ in named_transformations]
    if len(set(names)) != len(names):
        duplicates = sorted({name for name in names if names.count(name) > 1})
        raise ValueError(f"named_chain names must be unique; repeated: {duplicates}.")
    for name, tx in named_transformations:
        check_transformation(tx, f"named_chain entry {name!r}")

    def init(params):
        return {name: tx.init(params) for name, tx in named_transformations}

    def update(updates, state, params=None, **extra_args):
        new_state = {}
        for name, tx in named_transformations:
            updates, new_state[name] = update_with_extra_args(tx, updates, state[name], params, extra_args)
        return updates, new_state

    return GradientTransformation(init, update)


class MaskedNode(NamedTuple):
    """Stands in for a leaf outside the mask: a pytree node with no leaves."""


class MaskedState(NamedTuple):
    inner_state: Any


MaskOrFn = Union[Any, Callable[[Params], Any]]


def _mask_tree(tree: Any, mask: Any) -> Any:
    """Replaces the leaves of `tree` where the mask is False by `MaskedNode()`."""
    return jax.tree.map(
        lambda include, subtree: subtree if include else MaskedNode(),
        mask,
        tree,
    )


def _resolve_mask(mask: MaskOrFn, params: Params) -> Any:
    mask_tree = mask(params) if callable(mask) else mask
    for path, leaf in jax.tree_util.tree_flatten_with_path(mask_tree)[0]:
        if not isinstance(leaf, (bool, jax.numpy.bool_)) and getattr(leaf, "dtype", None) != bool:
            raise TypeError(
                f"mask leaf {jax.tree_util.keystr(path)} must be a Python bool, got "
                f"{leaf!r}; a mask is a pytree of True/False (or a function of params returning one)."
            )
    return mask_tree


def masked(inner: GradientTransformation, mask: MaskOrFn) -> GradientTransformation:
    """Applies `inner` to the leaves where `mask` is True; other updates pass through.

    `mask` is a pytree of Python bools with the params' structure (or a
    prefix of it), or a function `params -> mask`. `inner` sees, and keeps
    state for, only the masked-in leaves.
    """
    check_transformation(inner, "masked's inner")

    def init(params):
        mask_tree = _resolve_mask(mask, params)
        return MaskedState(inner.init(_mask_tree(params, mask_tree)))

    def update(updates, state, params=None, **extra_args):
        mask_tree = _resolve_mask(mask, updates if params is None else params)
        masked_updates = _mask_tree(updates, mask_tree)
        masked_params = None if params is None else _mask_tree(params, mask_tree)
        new_masked, inner_state = update_with_extra_args(
            inner, masked_updates, state.inner_state, masked_params, extra_args
        )
        merged = jax.tree.map(
            lambda new, old: old if isinstance(new, MaskedNode) else new,
            new_masked,
            updates,
            is_leaf=lambda x: isinstance(x, MaskedNode),
        )
        return merged, MaskedState(inner_state)

    return GradientTransformation(init, update)


class MultiTransformState(NamedTuple):
    inner_states: dict


def multi_transform(
    transforms: Mapping[Hashable, GradientTransformation],
    param_labels: Union[Any, Callable[[Params], Any]],
) -> GradientTransformation:
    """Applies `transforms[label]` to the params labelled `label`.

    `param_labels` is a pytree of labels with the params' structure (or a
    prefix), or a function `params -> labels`. Every label used must have a
    transformation; a transformation with no params is allowed.
    """
    for label, tx in transforms.items():
        check_transformation(tx, f"multi_transform entry {label!r}")

    def labels_for(params):
        labels = param_labels(params) if callable(param_labels) else param_labels
        used = set(jax.tree.leaves(labels))
        missing = used - set(transforms)
        if missing:
            raise ValueError(
                f"param_labels use {sorted(map(str, missing))} but transforms only has "
                f"{sorted(map(str, transforms))}; add a transformation for each label."
            )
        return labels

    def masks(labels):
        return {label: jax.tree.map(lambda leaf_label: leaf_label == label, labels) for label in transforms}

    def init(params):
        label_masks = masks(labels_for(params))
        return MultiTransformState(
            {label: masked(tx, label_masks[label]).init(params) for label, tx in transforms.items()}
        )

    def update(updates, state, params=None, **extra_args):
        label_masks = masks(labels_for(updates if params is None else params))
        new_states = {}
        for label, tx in transforms.items():
            updates, new_states[label] = masked(tx, label_masks[label]).update(
                updates, state.inner_states[label], params, **extra_args
            )
        return updates, MultiTransformState(new_states)

    return GradientTransformation(init, update)


__all__ = [
    "identity",
    "stateless",
    "chain",
    "named_chain",
    "masked",
    "MaskedNode",
    "MaskedState",
    "multi_transform",
    "MultiTransformState",
]
