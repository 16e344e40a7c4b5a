"""Several processes, one run: `jax.distributed` from the CLI's flags or a cluster's environment.

    jaxopt-edu train CONFIG --coordinator localhost:12355 --num-processes 2 --process-id 0   # on host 0
    jaxopt-edu train CONFIG --coordinator localhost:12355 --num-processes 2 --process-id 1   # on host 1

Each process sees its own devices; after `initialize` `jax.devices()` lists
every device of every process and the run's mesh spans them all
(training/parallel.py). On CPU the cross-process collectives go through gloo.
Without the flags, a process started by a cluster launcher that JAX
recognises (SLURM, Open MPI, a TPU pod, Kubernetes; or JAX_COORDINATOR_ADDRESS
set) joins its cluster the same way; otherwise the run is single-process.

A process that dies stops sending heartbeats; the others then exit with the
coordination service's error after `heartbeat_timeout` seconds instead of
waiting for it forever.
"""

import os
from typing import Optional

from jaxopt_edu.errors import InvalidArgumentError

# Environment variables by which a launcher tells JAX (cluster auto-detection) that it started a cluster.
CLUSTER_VARIABLES = ("JAX_COORDINATOR_ADDRESS", "SLURM_JOB_ID", "OMPI_COMM_WORLD_SIZE", "TPU_WORKER_HOSTNAMES")


def wants_cluster(coordinator: Optional[str], num_processes: Optional[int], process_id: Optional[int]) -> bool:
    """True when the flags or the environment ask for several processes; bad flags raise."""
    given = [value is not None for value in (coordinator, num_processes, process_id)]
    if any(given) and not all(given):
        raise InvalidArgumentError(
            "--coordinator, --num-processes and --process-id go together: give all three "
            "(e.g. --coordinator localhost:12355 --num-processes 2 --process-id 0) or none."
        )
    if all(given):
        if ":" not in coordinator:
            raise InvalidArgumentError(f"--coordinator must be HOST:PORT, got {coordinator!r}.")
        if num_processes < 1:
            raise InvalidArgumentError(f"--num-processes must be >= 1, got {num_processes}.")
        if not 0 <= process_id < num_processes:
            raise InvalidArgumentError(f"--process-id must be in [0, {num_processes}), got {process_id}.")
        return True
    return any(os.environ.get(name) for name in CLUSTER_VARIABLES)


def initialize_processes(coordinator: Optional[str] = None, num_processes: Optional[int] = None,
                         process_id: Optional[int] = None, heartbeat_timeout: int = 30) -> bool:
    """Joins the JAX cluster the flags (or the environment) describe, before any JAX computation.
    Returns whether it did (False: a single-process run)."""
    if not wants_cluster(coordinator, num_processes, process_id):
        return False
    import jax

    jax.config.update("jax_cpu_collectives_implementation", "gloo")  # used only by CPU devices
    jax.distributed.initialize(coordinator_address=coordinator, num_processes=num_processes,
                               process_id=process_id, heartbeat_timeout_seconds=heartbeat_timeout)
    return True
