"""Optimizer state on a device mesh: its shardings computed, and the state born sharded.

    mesh = Mesh(np.array(jax.devices()), ("data",))           # axes of type Auto
    param_shardings = jax.tree.map(lambda p: NamedSharding(mesh, P()), params)   # or FSDP's
    shardings = jo.state_shardings(tx, params, param_shardings, shard_state_over="data")
    state = jo.init_sharded(tx, params, param_shardings, shard_state_over="data")

`state_shardings` traces `tx.init` with `jax.eval_shape` (nothing is
allocated) and gives every state leaf a `NamedSharding` on the params' mesh:

* a leaf that mirrors a param (its key path ends with that param's key path
  and it has that param's shape: Adam's μ and ν, a momentum trace, an
  averaged copy of the params, the masked-in entries of a `masked` state)
  takes that param's sharding;
* a scalar (a count, an injected hyperparameter, a loss scale) is replicated;
* any other leaf (Adafactor's row and column factors, a `flatten`ed buffer)
  is replicated.

With `shard_state_over=axis` (ZeRO stage 1), each leaf of at least
`min_leaf_size` elements is then also split over the mesh axis `axis`, on the
first dimension that its sharding leaves free and that the axis size divides
evenly; a leaf with no such dimension keeps the sharding above. Leaves whose
sharding already uses `axis` (params sharded over it, as in FSDP) are left
alone.

`init_sharded` runs `tx.init` under `jit` with those shardings as its
out-shardings, so each device only ever holds its own part of the state.
The update keeps them: a jitted `tx.update` whose inputs carry these
shardings produces state with the same shardings (XLA propagates them; pass
them as `out_shardings` as well to pin them).
"""

from typing import Any, Optional

import jax
from jax.sharding import NamedSharding, PartitionSpec

from jaxopt_edu.base import GradientTransformation, OptState, Params, check_transformation

KeyPath = tuple


def _param_shardings_of(params: Params) -> Any:
    shardings = []
    for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]:
        sharding = getattr(leaf, "sharding", None)
        if not isinstance(sharding, NamedSharding):
            raise ValueError(
                f"param {jax.tree_util.keystr(path)} has no NamedSharding ({sharding!r}); pass "
                "param_shardings, a pytree of jax.sharding.NamedSharding with the params' structure."
            )
        shardings.append(sharding)
    return jax.tree.unflatten(jax.tree.structure(params), shardings)


def _the_mesh(param_shardings: Any) -> jax.sharding.Mesh:
    shardings = jax.tree.leaves(param_shardings, is_leaf=lambda x: isinstance(x, NamedSharding))
    if not shardings or not all(isinstance(s, NamedSharding) for s in shardings):
        raise ValueError("param_shardings must be a non-empty pytree of jax.sharding.NamedSharding.")
    meshes = {s.mesh for s in shardings}
    if len(meshes) != 1:
        raise ValueError(f"every param must be sharded on one mesh; got {len(meshes)} different meshes.")
    return meshes.pop()


def _mirrored_param(state_path: KeyPath, shape: tuple, params_by_path: dict) -> Optional[NamedSharding]:
    """The sharding of the param whose key path is the longest suffix of `state_path`, with `shape`."""
    for start in range(len(state_path)):
        entry = params_by_path.get(tuple(state_path[start:]))
        if entry is not None and entry[0] == shape:
            return entry[1]
    return None


def _spec_entries(spec: PartitionSpec, ndim: int) -> list:
    entries = list(spec) + [None] * (ndim - len(spec))
    return entries[:ndim]


def _uses_axis(entries: list, axis: str) -> bool:
    for entry in entries:
        names = entry if isinstance(entry, tuple) else (entry,)
        if axis in names:
            return True
    return False


def add_axis_on_free_dimension(sharding: NamedSharding, shape: tuple, axis: str,
                               min_leaf_size: int = 0) -> NamedSharding:
    """`sharding` with `axis` added on the first free dimension that its size divides (ZeRO-1, FSDP).

    Unchanged when the leaf has fewer than `min_leaf_size` elements, already
    uses `axis`, or has no free dimension that the axis size divides.
    """
    size = 1
    for dimension in shape:
        size *= dimension
    entries = _spec_entries(sharding.spec, len(shape))
    if size < max(min_leaf_size, 1) or _uses_axis(entries, axis):
        return sharding
    axis_size = sharding.mesh.shape[axis]
    for index, (entry, dimension) in enumerate(zip(entries, shape)):
        if entry is None and dimension % axis_size == 0:
            entries[index] = axis
            while entries and entries[-1] is None:  # P("data"), not P("data", None)
                entries.pop()
            return NamedSharding(sharding.mesh, PartitionSpec(*entries))
    return sharding


def state_shardings(
    tx: GradientTransformation,
    params: Params,
    param_shardings: Any = None,
    *,
    shard_state_over: Optional[str] = None,
    min_leaf_size: int = 0,
) -> OptState:
    """A pytree of `NamedSharding`s with the structure of `tx.init(params)`, computed without allocating it.

    `params` may hold arrays or `jax.ShapeDtypeStruct`s; `param_shardings`
    (default: the params' own `.sharding`) is a pytree of `NamedSharding` on
    one mesh with the params' structure. See the module docstring for the rule.
    """
    check_transformation(tx, "state_shardings' tx")
    if param_shardings is None:
        param_shardings = _param_shardings_of(params)
    mesh = _the_mesh(param_shardings)
    if shard_state_over is not None and shard_state_over not in mesh.shape:
        raise ValueError(
            f"shard_state_over={shard_state_over!r} is not an axis of the params' mesh, whose axes are "
            f"{dict(mesh.shape)}."
        )
    if min_leaf_size < 0:
        raise ValueError(f"min_leaf_size must be >= 0, got {min_leaf_size}.")
    param_leaves = jax.tree_util.tree_flatten_with_path(params)[0]
    sharding_leaves = jax.tree.leaves(param_shardings, is_leaf=lambda x: isinstance(x, NamedSharding))
    if len(sharding_leaves) != len(param_leaves):
        raise ValueError(
            f"param_shardings has {len(sharding_leaves)} leaves but params have {len(param_leaves)}; "
            "give one NamedSharding per param, in a pytree of the params' structure."
        )
    params_by_path = {
        tuple(path): (tuple(leaf.shape), sharding) for (path, leaf), sharding in zip(param_leaves, sharding_leaves)
    }
    replicated = NamedSharding(mesh, PartitionSpec())
    state_shapes = jax.eval_shape(tx.init, params)

    def sharding_for(path, leaf):
        shape = tuple(leaf.shape)
        mirrored = _mirrored_param(tuple(path), shape, params_by_path) if shape else None
        sharding = replicated if mirrored is None else mirrored
        if shard_state_over is not None and shape:
            sharding = add_axis_on_free_dimension(sharding, shape, shard_state_over, min_leaf_size)
        return sharding

    return jax.tree_util.tree_map_with_path(sharding_for, state_shapes)


def init_sharded(
    tx: GradientTransformation,
    params: Params,
    param_shardings: Any = None,
    *,
    shard_state_over: Optional[str] = None,
    min_leaf_size: int = 0,
) -> OptState:
    """`tx.init(params)`, jitted so that each state leaf is born with its `state_shardings` sharding."""
    shardings = state_shardings(
        tx, params, param_shardings, shard_state_over=shard_state_over, min_leaf_size=min_leaf_size
    )
    return jax.jit(tx.init, out_shardings=shardings)(params)


def state_bytes_per_device(state: OptState) -> int:
    """The largest number of bytes of `state` that any one device holds (its addressable shards)."""
    per_device: dict = {}
    for leaf in jax.tree.leaves(state):
        for shard in getattr(leaf, "addressable_shards", ()):
            per_device[shard.device] = per_device.get(shard.device, 0) + shard.data.nbytes
    return max(per_device.values(), default=0)


__all__ = ["state_shardings", "init_sharded", "state_bytes_per_device", "add_axis_on_free_dimension"]
