"""torch's factor schedulers: LambdaLR, MultiplicativeLR, ConstantLR, PolynomialLR.

Each is `jo.torch.<Name>(base_lr, **the torch class's keywords minus optimizer)`
and returns a `TorchSchedule` (compat/torch_lr_scheduler.py): `schedule(count)`
is the lr torch's optimizer holds after `count` calls to `scheduler.step()`.
The lr is base_lr times a factor f(t); all but LambdaLR reach it in torch by
multiplying the lr at each step, so they chain (`ChainedScheduler`) by
multiplying their factors.

`lr_lambda` is any function of the epoch that jax can trace: it is called
with an int32 array (e.g. `lambda epoch: 0.95 ** epoch`, or
`lambda epoch: jnp.where(epoch < 10, 1.0, 0.5)`). A Python `if` on the epoch
cannot be traced; write it with `jnp.where`.
"""

from typing import Any, Callable

import jax
import jax.numpy as jnp

from jaxopt_edu.compat.torch_lr_scheduler import (
    TorchSchedule,
    _as_count,
    _as_value,
    _check_base_lr,
    _check_number,
    _multiplicative,
)
from jaxopt_edu.validation import check_in_range, check_non_negative, check_non_negative_int

__all__ = ["LambdaLR", "MultiplicativeLR", "ConstantLR", "PolynomialLR"]


def _check_lambda(lr_lambda: Any) -> None:
    if isinstance(lr_lambda, (list, tuple)):
        raise TypeError("lr_lambda must be one function: one schedule is one parameter group's lr (give each "
                        "group its own schedule with jo.multi_transform).")
    if not callable(lr_lambda):
        raise TypeError(f"lr_lambda should be a function, but got {type(lr_lambda).__name__}.")


def _lambda_at(lr_lambda: Callable, epoch: jax.Array) -> jax.Array:
    return jnp.asarray(lr_lambda(epoch), jnp.float32)


def LambdaLR(base_lr: float, lr_lambda: Callable[[Any], Any]) -> TorchSchedule:
    """torch.optim.lr_scheduler.LambdaLR: η_t = η₀ · λ(t).

    η₀ = `base_lr`, λ = `lr_lambda` (a jax-traceable function of the int
    epoch t). torch sets the lr from this formula at every step, whatever
    the lr was, so it does not chain multiplicatively (ChainedScheduler
    refuses it).
    """
    _check_base_lr(base_lr)
    _check_lambda(lr_lambda)

    def schedule(count):
        return _as_value(base_lr * _lambda_at(lr_lambda, _as_count(count)))

    return TorchSchedule("LambdaLR", schedule, base_lr, chain_refusal=(
        "its step sets the lr to base_lr * lr_lambda(epoch), discarding the factors the schedulers "
        "before it applied"))


def MultiplicativeLR(base_lr: float, lr_lambda: Callable[[Any], Any]) -> TorchSchedule:
    """torch.optim.lr_scheduler.MultiplicativeLR: a running product of λ.

        η_0 = η₀,   η_t = η_{t−1} · λ(t)   so   η_t = η₀ · ∏_{k=1..t} λ(k)

    η₀ = `base_lr`, λ = `lr_lambda` (a jax-traceable function of the int
    epoch k; λ(0) is not used, as torch's construction leaves the lr alone).

    Cost: λ is arbitrary, so there is no closed form: each evaluation runs a
    `lax.fori_loop` of t multiplications (a while loop under jit when t is
    traced), i.e. O(t) work for the value at count t, and O(T²) over a run
    of T steps when the optimizer evaluates it every step. Step it per epoch
    (`jo.schedules.per_epoch`) or, for a constant λ = γ, use
    `ExponentialLR(base_lr, γ)`, which is O(1). The product is taken in
    float32, each λ(k) rounded to float32: its relative error grows with t,
    up to about t · 2⁻²⁴ (e.g. 1.4e-6 after 50 steps of λ = 0.9, where torch's
    float64 product errs by 1e-15).

    In a SequentialLR, torch restarts it at a milestone m by multiplying the
    lr it finds (the previous scheduler's lr at m − 1) by λ(0) — not from
    base_lr — and this is reproduced.
    """
    _check_base_lr(base_lr)
    _check_lambda(lr_lambda)

    def product_to(count):  # ∏_{k=1..count} λ(k) for one int32 count
        return jax.lax.fori_loop(1, count + 1, lambda k, product: product * _lambda_at(lr_lambda, k),
                                 jnp.float32(1.0))

    def factor(count):
        count = _as_count(count)
        return jnp.vectorize(product_to)(count) if count.ndim else product_to(count)

    def restart(previous_lr, local_count):
        return _as_value(previous_lr * _lambda_at(lr_lambda, jnp.int32(0)) * factor(local_count))

    return _multiplicative("MultiplicativeLR", base_lr, factor, restart=restart)


def ConstantLR(base_lr: float, factor: float = 1.0 / 3, total_iters: int = 5) -> TorchSchedule:
    """torch.optim.lr_scheduler.ConstantLR: η₀ · c until T steps, then η₀.

        η_t = η₀ · c   for t < T,     η_t = η₀   for t ≥ T

    η₀ = `base_lr`, c = `factor` in [0, 1], T = `total_iters` (integer ≥ 0).
    torch multiplies the lr by c at construction and by 1/c at step T. So:

    * T = 0: step T never comes after construction, and the lr stays η₀ · c
      forever (torch's recursion; its closed form would say η₀). Reproduced.
    * c = 0 with T > 0 raises here: torch divides by zero at step T.
    * Restarted by SequentialLR at a milestone, torch uses the closed form
      (η₀ at T = 0, then held): reproduced, so ConstantLR(total_iters=0) after
      a milestone gives η₀, not η₀ · c.
    """
    _check_base_lr(base_lr)
    _check_number("factor", factor)
    check_in_range("factor", factor, 0.0, 1.0)
    check_non_negative_int("total_iters", total_iters)
    if factor == 0 and total_iters > 0:
        raise ValueError(f"factor must be > 0 when total_iters > 0: torch's ConstantLR divides the lr by factor "
                         f"at step total_iters (got factor={factor!r}, total_iters={total_iters!r}).")

    def scale(count):
        count = _as_count(count)
        if total_iters == 0:
            return jnp.full(jnp.shape(count), factor, jnp.float32)
        return jnp.where(count < total_iters, jnp.float32(factor), jnp.float32(1.0))

    restart = None
    if total_iters == 0:
        def restart(previous_lr, local_count):
            return jnp.full(jnp.shape(local_count), base_lr, jnp.float32)

    return _multiplicative("ConstantLR", base_lr, scale, restart=restart)


def PolynomialLR(base_lr: float, total_iters: int = 5, power: float = 1.0) -> TorchSchedule:
    """torch.optim.lr_scheduler.PolynomialLR: η_t = η₀ · (1 − min(t, T) / T)^p.

    η₀ = `base_lr`, T = `total_iters` (integer ≥ 0), p = `power` (≥ 0).
    torch multiplies the lr at step t ≤ T by ((1 − t/T) / (1 − (t−1)/T))^p,
    which telescopes to the closed form; past T it holds (at 0). With T = 0
    torch never multiplies and the lr stays η₀ (reproduced); restarted at a
    SequentialLR milestone, T = 0 makes torch divide by zero, so that is
    refused. A negative p raises here (torch: ZeroDivisionError at step T).
    """
    _check_base_lr(base_lr)
    check_non_negative_int("total_iters", total_iters)
    _check_number("power", power)
    check_non_negative("power", power)

    def scale(count):
        count = _as_count(count)
        if total_iters == 0:
            return jnp.ones(jnp.shape(count), jnp.float32)
        remaining = (total_iters - jnp.minimum(count, total_iters)).astype(jnp.float32) / total_iters
        return jnp.power(remaining, jnp.float32(power))

    refusal = ("with total_iters=0 torch's restart at a milestone divides by zero "
               "(its closed form divides by total_iters)") if total_iters == 0 else None
    return _multiplicative("PolynomialLR", base_lr, scale, restart_refusal=refusal)
