"""The hand-written optimizers of the classic TensorFlow Core optimizer guide
("Optimizers with Core APIs"), each written out here in plain jnp from its
formula, equal jaxopt_edu chains over 50 steps on a small least-squares problem.

    gradient descent   x ← x − lr·g
    momentum           Δ = lr·g + p·Δ_prev;   x ← x − Δ
    Adam               m ← β1·m + (1−β1)·g;   v ← β2·v + (1−β2)·g²
                       m̂ = m/(1−β1^t);   v̂ = v/(1−β2^t);   x ← x − lr·m̂/(√v̂ + ep),   ep = 1e-7

The gradients come from the iterate itself (g = Aᵀ(Ax − b)), so any
difference in a step feeds into the next ones. The remaining differences
(up to ~1e-5 of the leaf scale for Adam) are rounding: the guide computes
β^t in Python float64, the primitives compute 1 − β^t in float32 as optax does.
"""

import chex
import jax
import jax.numpy as jnp
import numpy as np
from absl.testing import parameterized

import jaxopt_edu as jo

NUM_STEPS = 50
LEARNING_RATE = 0.05
MOMENTUM = 0.9
TOLERANCE = 1e-5  # relative, float32 over 50 coupled steps


def _problem():
    """f(x) = ½‖Ax − b‖² on a nested pytree x = {"w": (3,), "b": [()]}, with its gradient."""
    rng = np.random.default_rng(0)
    a = jnp.asarray(rng.normal(size=(6, 4)), jnp.float32)
    b = jnp.asarray(rng.normal(size=(6,)), jnp.float32)

    def loss(x):
        flat = jnp.concatenate([x["w"], x["b"][0][None]])
        return 0.5 * jnp.sum(jnp.square(a @ flat - b))

    x0 = {"w": jnp.asarray([1.0, -2.0, 0.5], jnp.float32), "b": [jnp.asarray(3.0, jnp.float32)]}
    return x0, jax.grad(loss)


# ---- the guide's rules, from their formulas -----------------------------------------

def gradient_descent_by_hand(x0, grad_fn, lr=LEARNING_RATE):
    x, path = x0, []
    for _ in range(NUM_STEPS):
        g = grad_fn(x)
        x = jax.tree.map(lambda xi, gi: xi - lr * gi, x, g)
        path.append(x)
    return path


def momentum_by_hand(x0, grad_fn, lr=LEARNING_RATE, p=MOMENTUM):
    x, change, path = x0, jax.tree.map(jnp.zeros_like, x0), []
    for _ in range(NUM_STEPS):
        g = grad_fn(x)
        change = jax.tree.map(lambda gi, ci: lr * gi + p * ci, g, change)
        x = jax.tree.map(lambda xi, ci: xi - ci, x, change)
        path.append(x)
    return path


def adam_by_hand(x0, grad_fn, lr=LEARNING_RATE, beta_1=0.9, beta_2=0.999, ep=1e-7):
    x, path = x0, []
    m = jax.tree.map(jnp.zeros_like, x0)
    v = jax.tree.map(jnp.zeros_like, x0)
    for t in range(1, NUM_STEPS + 1):
        g = grad_fn(x)
        m = jax.tree.map(lambda mi, gi: beta_1 * mi + (1 - beta_1) * gi, m, g)
        v = jax.tree.map(lambda vi, gi: beta_2 * vi + (1 - beta_2) * gi**2, v, g)
        m_hat = jax.tree.map(lambda mi: mi / (1 - beta_1**t), m)
        v_hat = jax.tree.map(lambda vi: vi / (1 - beta_2**t), v)
        x = jax.tree.map(lambda xi, mh, vh: xi - lr * mh / (jnp.sqrt(vh) + ep), x, m_hat, v_hat)
        path.append(x)
    return path


# ---- the jaxopt_edu chains ----------------------------------------------------------

CASES = {
    "gradient_descent_chain": (gradient_descent_by_hand, lambda: jo.chain(jo.scale_by_learning_rate(LEARNING_RATE))),
    "gradient_descent_sgd": (gradient_descent_by_hand, lambda: jo.sgd(LEARNING_RATE)),
    # lr inside the buffer, exactly the guide's Δ (with the sign flipped: b = −Δ)
    "momentum_chain": (momentum_by_hand,
                       lambda: jo.chain(jo.scale_by_learning_rate(LEARNING_RATE), jo.trace(MOMENTUM))),
    # lr outside the buffer: the same steps for a constant lr
    "momentum_sgd": (momentum_by_hand, lambda: jo.sgd(LEARNING_RATE, momentum=MOMENTUM)),
    "adam": (adam_by_hand, lambda: jo.adam(LEARNING_RATE, eps=1e-7)),
    "adam_chain": (adam_by_hand,
                   lambda: jo.chain(jo.scale_by_adam(eps=1e-7), jo.scale_by_learning_rate(LEARNING_RATE))),
}


def _run_chain(tx, x0, grad_fn, update):
    x, state, path = x0, tx.init(x0), []
    for _ in range(NUM_STEPS):
        updates, state = update(grad_fn(x), state, x)
        x = jo.apply_updates(x, updates)
        path.append(x)
    return path


class TensorFlowGuideRulesTest(chex.TestCase):
    @chex.variants(with_jit=True, without_jit=True)
    @parameterized.named_parameters(*[(name, name) for name in CASES])
    def test_rule_equals_chain(self, name):
        by_hand, make_tx = CASES[name]
        x0, grad_fn = _problem()
        tx = make_tx()
        expected = by_hand(x0, jax.jit(grad_fn))
        got = _run_chain(tx, x0, jax.jit(grad_fn), self.variant(tx.update))
        for step, (a, b) in enumerate(zip(got, expected)):
            for leaf_a, leaf_b in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
                np.testing.assert_allclose(
                    leaf_a, leaf_b, rtol=TOLERANCE, atol=TOLERANCE * max(1.0, float(jnp.max(jnp.abs(leaf_b)))),
                    err_msg=f"{name}, step {step + 1}",
                )

    def test_the_problem_is_not_trivial(self):
        """The three rules walk different paths, and all make progress."""
        x0, grad_fn = _problem()
        finals = [path[-1] for path in (gradient_descent_by_hand(x0, grad_fn), momentum_by_hand(x0, grad_fn),
                                        adam_by_hand(x0, grad_fn))]
        for i in range(3):
            for j in range(i + 1, 3):
                distance = jo.tree_global_norm(jax.tree.map(jnp.subtract, finals[i], finals[j]))
                self.assertGreater(float(distance), 1e-2)
        start = float(jnp.linalg.norm(jnp.concatenate([grad_fn(x0)["w"], grad_fn(x0)["b"][0][None]])))
        for final in finals:
            g = grad_fn(final)
            self.assertLess(float(jnp.linalg.norm(jnp.concatenate([g["w"], g["b"][0][None]]))), start)
