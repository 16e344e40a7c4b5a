"""Training on a mesh of devices: data parallelism, ZeRO-1 and FSDP, in one or several processes.

    fit(model, tx, splits, ..., parallel=Parallel(data=8, shard_optimizer_state=True))

The mesh has one axis, "data", of `data` devices (every device of every
process when several processes form one JAX cluster). One `jit` runs the
step on all of them (JAX's SPMD partitioner splits the work):

    batch            split over "data": device d computes the loss of its B/D rows
    gradients        summed across devices by the compiler (an all-reduce)
    params           replicated, or (fsdp) split over "data" on their first divisible dimension
    optimizer state  as its params (jo.state_shardings), and with shard_optimizer_state (ZeRO-1)
                     split over "data" too; counts and scalars replicated
    model_state      (BatchNorm statistics) replicated

The data set is placed on every device once, as without a mesh; inside the
epoch's compiled scan each device gathers only its rows of each batch. With
several processes every process loads the same files, and only process 0
writes metrics, plots and logs (checkpoints are written by all, collectively).
The losses equal a single-device run's up to the order of the float32
reductions across devices.
"""

from typing import Any, NamedTuple, Optional

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from jaxopt_edu.sharding import add_axis_on_free_dimension, state_bytes_per_device, state_shardings
from jaxopt_edu.training.state import TrainState
from jaxopt_edu.validation import check_positive_int

DATA_AXIS = "data"


class Parallel(NamedTuple):
    """How to spread a run over devices: `data` devices on the mesh's data axis (0: all devices)."""

    data: int = 0
    shard_optimizer_state: bool = False
    fsdp: bool = False

    def check(self) -> "Parallel":
        if self.data != 0:
            check_positive_int("parallel.data", self.data)
        for name in ("shard_optimizer_state", "fsdp"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"parallel.{name} must be true or false, got {getattr(self, name)!r}.")
        return self


def make_mesh(parallel: Parallel) -> Mesh:
    """A one-axis mesh ("data") of `parallel.data` devices (all of them for 0); a clear error when
    there are fewer devices than asked for."""
    devices = jax.devices()
    wanted = parallel.data or len(devices)
    if wanted > len(devices):
        raise ValueError(
            f"parallel.data={wanted} needs {wanted} devices, but JAX sees {len(devices)} "
            f"({devices[0].platform}). On CPU, simulate them by starting Python with "
            f"XLA_FLAGS=--xla_force_host_platform_device_count={wanted}; or lower parallel.data."
        )
    if jax.process_count() > 1 and wanted != len(devices):
        raise ValueError(
            f"with {jax.process_count()} processes parallel.data must use every device ({len(devices)}); "
            f"got {wanted}. Set parallel.data to 0 (all) or {len(devices)}."
        )
    return Mesh(np.array(devices[:wanted]), (DATA_AXIS,))


def check_batch_size(mesh: Mesh, batch_size: int, name: str = "batch_size") -> None:
    size = mesh.shape[DATA_AXIS]
    if batch_size % size:
        raise ValueError(
            f"{name}={batch_size} must be divisible by the {size} devices of the data axis, so each "
            f"device gets the same number of rows; use e.g. {name}={max(size, batch_size // size * size)}."
        )


def batch_sharding(mesh: Mesh) -> NamedSharding:
    """Rows of a batch split over the data axis."""
    return NamedSharding(mesh, PartitionSpec(DATA_AXIS))


def replicated(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, PartitionSpec())


def train_state_shardings(state: TrainState, tx: Any, mesh: Mesh, parallel: Parallel) -> TrainState:
    """A TrainState of NamedShardings for `state` (arrays or shapes), as the module docstring says."""
    whole = replicated(mesh)

    def param_sharding(leaf):
        if parallel.fsdp:
            return add_axis_on_free_dimension(whole, tuple(leaf.shape), DATA_AXIS)
        return whole

    params = jax.tree.map(param_sharding, state.params)
    zero = DATA_AXIS if parallel.shard_optimizer_state else None
    opt_state = state_shardings(tx, state.params, params, shard_state_over=zero)
    return TrainState(step=whole, params=params, model_state=jax.tree.map(lambda _: whole, state.model_state),
                      opt_state=opt_state)


def place_on_mesh(tree: Any, shardings: Any) -> Any:
    """`tree` (host or single-device arrays, the same on every process) placed with `shardings`."""
    def place(leaf, sharding):
        if jax.process_count() == 1:
            return jax.device_put(leaf, sharding)
        host = np.asarray(leaf)
        return jax.make_array_from_callback(host.shape, sharding, lambda index: host[index])

    return jax.tree.map(place, tree, shardings)


def placement_record(mesh: Optional[Mesh], state: TrainState) -> dict:
    """What metrics.json records about where the run ran."""
    return {
        "devices": 1 if mesh is None else int(mesh.devices.size),
        "processes": jax.process_count(),
        "mesh": {DATA_AXIS: 1} if mesh is None else {name: int(size) for name, size in mesh.shape.items()},
        "optimizer_state_bytes_per_device": state_bytes_per_device(state.opt_state),
    }


def is_main_process() -> bool:
    """Only process 0 writes metrics, plots and logs."""
    return jax.process_index() == 0
