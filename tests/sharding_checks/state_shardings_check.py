"""Run in a process with 8 CPU devices (tests/test_sharding_state.py starts it): for every named
optimizer and every wrapper, the state's computed shardings, a ZeRO-1 init, and a sharded jitted update
against the single-device one. Prints one line per case and `ok N` at the end."""

import inspect
import sys

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

import jaxopt_edu as jo
from jaxopt_edu.lab.telemetry import telemetry

assert jax.device_count() == 8, jax.devices()
mesh = Mesh(np.array(jax.devices()).reshape(4, 2), ("data", "model"))
rng = np.random.default_rng(0)
PARAMS = {
    "dense": {"kernel": jnp.asarray(rng.normal(size=(8, 6)), jnp.float32),
              "bias": jnp.asarray(rng.normal(size=(6,)), jnp.float32)},
    "conv": jnp.asarray(rng.normal(size=(3, 4, 2)), jnp.float32),
}
SPECS = {"dense": {"kernel": P(None, "model"), "bias": P("model")}, "conv": P()}
PARAM_SHARDINGS = jax.tree.map(lambda spec: NamedSharding(mesh, spec), SPECS, is_leaf=lambda x: isinstance(x, P))
GRADS = [jax.tree.map(lambda p, k=k: jnp.asarray(np.random.default_rng(k).normal(size=p.shape), p.dtype), PARAMS)
         for k in range(2)]
REPLICATED = NamedSharding(mesh, P())


def named(name):
    factory = getattr(jo, name)
    required = [p.name for p in inspect.signature(factory).parameters.values() if p.default is inspect.Parameter.empty
                and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    return factory(**{arg: 1e-2 for arg in required})


def two_d(params):
    return jax.tree.map(lambda x: x.ndim == 2, params)


def labels(params):
    return jax.tree.map(lambda x: "matrix" if x.ndim == 2 else "other", params)


CASES = {name: (lambda name=name: named(name)) for name in jo.optimizers.__all__}
CASES["muon"] = lambda: jo.muon(1e-2)
CASES.update({
    "chain": lambda: jo.chain(jo.clip_by_global_norm(1.0), jo.scale_by_adam(), jo.scale_by_learning_rate(1e-2)),
    "named_chain": lambda: jo.named_chain(("clip", jo.clip(1.0)), ("adam", jo.adam(1e-2))),
    "masked": lambda: jo.masked(jo.adam(1e-2), two_d),
    "multi_transform": lambda: jo.multi_transform({"matrix": jo.adam(1e-2), "other": jo.sgd(0.1, 0.9)}, labels),
    "inject_hyperparams": lambda: jo.inject_hyperparams(jo.adamw)(learning_rate=jo.schedules.cosine_decay(1e-2, 9)),
    "apply_if_finite": lambda: jo.apply_if_finite(jo.adam(1e-2), max_consecutive_errors=2),
    "accumulate_gradients": lambda: jo.accumulate_gradients(jo.sgd(0.1, momentum=0.9), every_k=2),
    "stochastic_weight_averaging": lambda: jo.stochastic_weight_averaging(jo.adam(1e-2)),
    "exponential_weight_averaging": lambda: jo.exponential_weight_averaging(jo.sgd(0.1), decay=0.9),
    "telemetry": lambda: telemetry(jo.adam(1e-2), history_size=2),
})


def run(tx, params, state, update):
    for grads in GRADS:
        updates, state = update(grads, state, params)
        params = jo.apply_updates(params, updates)
    return params, state


def check(name, tx):
    shardings = jo.state_shardings(tx, PARAMS, PARAM_SHARDINGS)
    state_paths = jax.tree_util.tree_flatten_with_path(jax.eval_shape(tx.init, PARAMS))[0]
    for (path, leaf), sharding in zip(state_paths, jax.tree.leaves(shardings)):
        where = f"{name} {jax.tree_util.keystr(path)}"
        keys = jax.tree_util.keystr(path)
        if leaf.shape == ():
            assert sharding == REPLICATED, (where, sharding)
        elif keys.endswith("['dense']['kernel']") and leaf.shape == (8, 6):
            assert sharding == PARAM_SHARDINGS["dense"]["kernel"], (where, sharding)
        elif keys.endswith("['dense']['bias']") and leaf.shape == (6,):
            assert sharding == PARAM_SHARDINGS["dense"]["bias"], (where, sharding)

    zero = jo.state_shardings(tx, PARAMS, PARAM_SHARDINGS, shard_state_over="data")
    for (path, leaf), sharding in zip(state_paths, jax.tree.leaves(zero)):
        keys = jax.tree_util.keystr(path)
        if keys.endswith("['dense']['kernel']") and leaf.shape == (8, 6):  # dim 0 is free and 8 % 4 == 0
            assert sharding.spec == P("data", "model"), (name, keys, sharding.spec)
        if keys.endswith("['conv']") and leaf.shape == (3, 4, 2):  # 3 is not divisible by 4; 4 is
            assert sharding.spec == P(None, "data"), (name, keys, sharding.spec)

    params = jax.device_put(PARAMS, PARAM_SHARDINGS)
    state = jo.init_sharded(tx, params, shard_state_over="data")
    for leaf, sharding in zip(jax.tree.leaves(state), jax.tree.leaves(zero)):
        assert leaf.sharding.is_equivalent_to(sharding, leaf.ndim), (name, leaf.sharding, sharding)
    sharded_update = jax.jit(tx.update)  # no out_shardings: XLA's propagation must keep them
    sharded_params, sharded_state = run(tx, params, state, sharded_update)
    for leaf, sharding in zip(jax.tree.leaves(sharded_state), jax.tree.leaves(zero)):
        assert leaf.sharding.is_equivalent_to(sharding, leaf.ndim), (name, "after update", leaf.sharding)

    single = jax.devices()[0]
    plain_params = jax.device_put(PARAMS, single)
    plain_params, plain_state = run(tx, plain_params, tx.init(plain_params), jax.jit(tx.update))
    for a, b in zip(jax.tree.leaves((sharded_params, sharded_state)), jax.tree.leaves((plain_params, plain_state))):
        a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
        # The same float32 arithmetic; only the order of cross-device sums (norms) may differ.
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6 * max(1.0, float(np.max(np.abs(b), initial=0))),
                                   err_msg=name)
    print(name, "ok", flush=True)


only = sys.argv[1:]
for name, build in CASES.items():
    if not only or name in only:
        check(name, build())
print("ok", len(CASES) if not only else len(only))
