"""Fused steps: an elementwise optimizer's update and `apply_updates` in one pass over memory.

An elementwise step is memory-bound: Adam on N float32 parameters must read
θ, g, m, ν and write θ, m, ν, 28 bytes per parameter at the least. The
readable chain, jitted, moves more on XLA:CPU, which does not fuse sibling
loops into one multi-output loop: one loop writes m, one writes ν, and a
third re-reads both to write θ (40 bytes per parameter). A fused step runs
the same chain, `tx`, on chunks of each leaf small enough to stay in cache:

    for each leaf i, for each chunk c = [o, o + C) of vec(θ_i):
        u_c, s'_c = tx.update(g_i[c], s_i[c], θ_i[c])      (s_i[c]: the chunk of every per-parameter state leaf)
        θ_i[c]    = apply_updates(θ_i[c], u_c);   s_i[c] = s'_c      (in place)
    scalar state (the step count): tx.update on an empty chunk, once

so each byte of θ, g, m, ν crosses the memory bus once. The arithmetic is
the chain's own, so the result is `apply_updates(θ, tx.update(g, s, θ))`:
bit for bit for SGD and Lion, within float32 rounding for Adam (the compiler
may contract multiply-adds differently; tests/test_fused_step.py checks
many steps). On other backends (GPU), whose XLA fuses the three loops by
itself, the step is the chain, jitted whole (not measured here). Leaves shorter than two chunks are updated whole, and so
are half-precision leaves and leaves with a state leaf of another dtype
(m in bfloat16): XLA:CPU does not update a converted chunk in place and
would copy all of m at every chunk.

    step = jo.fused_adam(1e-3)
    state = step.init(params)                   # the state of jo.adam(1e-3): interchangeable
    params, state = step(params, state, grads)  # jitted; params and state are donated

Only elementwise rules can be chunked, so fused steps exist for named
optimizers only (SGD with momentum, Adam, AdamW, Lion), with a float
learning rate and no mask. Call the step from Python, once a step, as a
training loop does: inside another `jit` the chunked loop is compiled
without the option below and XLA copies the moments at every chunk
(correct, but slow).
"""

from typing import Any, Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp

from jaxopt_edu.base import GradientTransformation, apply_updates
from jaxopt_edu.optimizers.classic import adam, adamw, lion, sgd
from jaxopt_edu.validation import check_in_range

# Lets XLA:CPU update the moments of a chunk in place although the θ update reads them first.
_CPU_COMPILER_OPTIONS = {"xla_cpu_copy_insertion_use_region_analysis": True}

# Elements per chunk: Adam's four float32 chunks (θ, g, m, ν) take 512 KiB, which fits a 1 MiB L2
# cache with room to spare. Measured on a 2-core EPYC (1 MiB L2 per core), Adam at 16M params: 8.85 ms
# a step with 32,768, 8.98 with 16,384 and 9.47 with 65,536 (experiments/bench_fused_chunk.py, PERFORMANCE.md).
DEFAULT_CHUNK_SIZE = 32768


class FusedStep(NamedTuple):
    """A readable chain `tx` and its fused, jitted step.

        init(θ)        = tx.init(θ)
        step(θ, s, g)  = (apply_updates(θ, u), s')   where  u, s' = tx.update(g, s, θ)
    """

    init: Callable[[Any], Any]
    step: Callable[[Any, Any, Any], tuple]
    tx: GradientTransformation

    def __call__(self, params, state, grads):
        return self.step(params, state, grads)


def _per_parameter_test(params) -> Callable[[Any], bool]:
    """Whether a node of the state is per-parameter: params' tree structure and leaf shapes."""
    treedef = jax.tree.structure(params)
    shapes = [jnp.shape(leaf) for leaf in jax.tree.leaves(params)]

    def is_per_parameter(node) -> bool:
        return jax.tree.structure(node) == treedef and [jnp.shape(x) for x in jax.tree.leaves(node)] == shapes

    return is_per_parameter


def _chunk_update(tx, outer, per_parameter, nodes):
    """`(θ_c, g_c, [s_c]) -> (θ'_c, [s'_c], new scalar nodes)`: the chain on one chunk of one leaf."""

    def update(p, g, states):
        pieces = iter(states)
        chunk_state = outer.unflatten([next(pieces) if per else node for per, node in zip(per_parameter, nodes)])
        u, new_state = tx.update(g, chunk_state, p)
        new_nodes = outer.flatten_up_to(new_state)
        new_states = [node for per, node in zip(per_parameter, new_nodes) if per]
        return apply_updates(p, u), new_states, new_nodes

    return update


def _chunked_leaf(update, p, g, states, chunk: int):
    """θ_i and its state leaves updated chunk by chunk, in place (a loop over full chunks, then the tail)."""
    shape = jnp.shape(p)
    p, g, states = p.reshape(-1), g.reshape(-1), [s.reshape(-1) for s in states]
    size, full = p.shape[0], p.shape[0] // chunk

    def block(offset, length, arrays):
        p, states = arrays
        take = lambda x: jax.lax.dynamic_slice_in_dim(x, offset, length)  # noqa: E731
        new_p, new_states, _ = update(take(p), take(g), [take(s) for s in states])
        put = lambda x, piece: jax.lax.dynamic_update_slice_in_dim(x, piece, offset, 0)  # noqa: E731
        return put(p, new_p), [put(s, piece) for s, piece in zip(states, new_states)]

    p, states = jax.lax.fori_loop(0, full, lambda c, arrays: block(c * chunk, chunk, arrays), (p, states))
    if size > full * chunk:
        p, states = block(full * chunk, size - full * chunk, (p, states))
    return p.reshape(shape), [s.reshape(shape) for s in states]


def _in_place_dtypes(p, states) -> bool:
    """θ is computed in its own dtype (float32 or wider) and every state leaf has θ's dtype."""
    return jnp.promote_types(p.dtype, jnp.float32) == p.dtype and all(s.dtype == p.dtype for s in states)


def _fused_step(tx: GradientTransformation, chunk_size: int) -> FusedStep:
    """The fused, jitted step of an elementwise chain `tx` (see the module docstring)."""
    on_cpu = jax.default_backend() == "cpu"

    def step(params, state, grads):
        is_per_parameter = _per_parameter_test(params)
        nodes, outer = jax.tree.flatten(state, is_leaf=is_per_parameter)
        per_parameter = [is_per_parameter(node) for node in nodes]
        leaves, treedef = jax.tree.flatten(params)
        if not leaves:
            updates, state = tx.update(grads, state, params)
            return apply_updates(params, updates), state
        update = _chunk_update(tx, outer, per_parameter, nodes)
        grad_leaves = treedef.flatten_up_to(grads)
        state_columns = [treedef.flatten_up_to(node) for node, per in zip(nodes, per_parameter) if per]

        new_leaves, new_columns = [], [[] for _ in state_columns]
        for i, (p, g) in enumerate(zip(leaves, grad_leaves)):
            states = [column[i] for column in state_columns]
            if on_cpu and jnp.size(p) >= 2 * chunk_size and _in_place_dtypes(p, states):
                p, states = _chunked_leaf(update, p, g, states, chunk_size)
            else:
                p, states, _ = update(p, g, states)
            new_leaves.append(p)
            for column, s in zip(new_columns, states):
                column.append(s)

        empty = lambda x: jnp.reshape(x, (-1,))[:0]  # noqa: E731  (only the scalar state comes out)
        first = [column[0] for column in state_columns]
        _, _, scalar_nodes = update(empty(leaves[0]), empty(grad_leaves[0]), [empty(s) for s in first])
        columns = iter(new_columns)
        new_nodes = [treedef.unflatten(next(columns)) if per else node
                     for per, node in zip(per_parameter, scalar_nodes)]
        return treedef.unflatten(new_leaves), outer.unflatten(new_nodes)

    options = _CPU_COMPILER_OPTIONS if on_cpu else None
    return FusedStep(tx.init, jax.jit(step, donate_argnums=(0, 1), compiler_options=options), tx)


def _check_fusable(learning_rate, chunk_size, mask=None) -> None:
    """A float learning rate, no mask, an int chunk size of at least 1."""
    if callable(learning_rate):
        raise TypeError("a fused step takes a float learning_rate, not a schedule; use the readable optimizer "
                        "(e.g. jo.adam(schedule)) for a schedule.")
    if mask is not None:
        raise TypeError("a fused step takes no mask; use the readable optimizer (e.g. jo.adamw(..., mask=...)).")
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int):
        raise TypeError(f"chunk_size must be an int (elements per chunk), got {chunk_size!r}.")
    check_in_range("chunk_size", chunk_size, 1)


def fused_sgd(learning_rate: float, momentum: Optional[float] = None, nesterov: bool = False,
              accumulator_dtype: Optional[Any] = None, *, chunk_size: int = DEFAULT_CHUNK_SIZE) -> FusedStep:
    """`jo.sgd(...)`, fused:  b ← μ · b + g;  θ ← θ − η · b  (θ ← θ − η · (g + μ · b) with nesterov)."""
    _check_fusable(learning_rate, chunk_size)
    return _fused_step(sgd(learning_rate, momentum, nesterov, accumulator_dtype), chunk_size)


def fused_adam(learning_rate: float, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8, eps_root: float = 0.0,
               mu_dtype: Optional[Any] = None, *, nesterov: bool = False, nu_dtype: Optional[Any] = None,
               chunk_size: int = DEFAULT_CHUNK_SIZE) -> FusedStep:
    """`jo.adam(...)`, fused:  θ ← θ − η · m̂ / (sqrt(ν̂ + ε_root) + ε)."""
    _check_fusable(learning_rate, chunk_size)
    return _fused_step(adam(learning_rate, b1, b2, eps, eps_root, mu_dtype, nesterov=nesterov, nu_dtype=nu_dtype),
                       chunk_size)


def fused_adamw(learning_rate: float, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8, eps_root: float = 0.0,
                mu_dtype: Optional[Any] = None, weight_decay: float = 1e-4, mask: Any = None, *,
                nesterov: bool = False, nu_dtype: Optional[Any] = None, chunk_size: int = DEFAULT_CHUNK_SIZE) -> FusedStep:
    """`jo.adamw(...)` without a mask, fused:  θ ← θ − η · (m̂ / (sqrt(ν̂ + ε_root) + ε) + λθ)."""
    _check_fusable(learning_rate, chunk_size, mask)
    return _fused_step(adamw(learning_rate, b1, b2, eps, eps_root, mu_dtype, weight_decay, nesterov=nesterov,
                             nu_dtype=nu_dtype), chunk_size)


def fused_lion(learning_rate: float, b1: float = 0.9, b2: float = 0.99, mu_dtype: Optional[Any] = None,
               weight_decay: float = 1e-3, mask: Any = None, *, chunk_size: int = DEFAULT_CHUNK_SIZE) -> FusedStep:
    """`jo.lion(...)` without a mask, fused:  θ ← θ − η · (sign(β1 m + (1 − β1) g) + λθ)."""
    _check_fusable(learning_rate, chunk_size, mask)
    return _fused_step(lion(learning_rate, b1, b2, mu_dtype, weight_decay), chunk_size)


__all__ = ["FusedStep", "fused_sgd", "fused_adam", "fused_adamw", "fused_lion"]
