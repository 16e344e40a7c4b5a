"""torch.optim.LBFGS, faithfully: L-BFGS with torch's stopping rules and strong-Wolfe line search.

    torch:       opt = torch.optim.LBFGS(model.parameters(), lr=1, line_search_fn="strong_wolfe")
                 loss = opt.step(closure)            # closure() -> loss, after loss.backward()
    jaxopt_edu:  lbfgs = jo.torch.LBFGS(lr=1, line_search_fn="strong_wolfe")
                 state = lbfgs.init(params)
                 loss, params, state = lbfgs.step(closure, params, state)   # closure(params) -> (loss, grads)

L-BFGS is not a gradient transformation: one torch `step` evaluates the
closure several times (up to `max_eval`), at points it chooses itself, and
compares losses. So `LBFGS` returns a pair `(init, step)` instead of
`(init, update)`. `step` is pure and jits with the closure static,
`jax.jit(lbfgs.step, static_argnums=0)` (a closure that carries arrays may
instead be a `jax.tree_util.Partial`, passed traced), and returns what torch's `step`
returns: the loss of its *first* closure evaluation (at the params it was
given), with the new params and state.

One `step` is torch's `step`, with the params raveled into one vector x as
torch concatenates them (`jax.flatten_util.ravel_pytree`). With g = ∇f(x):

    stop at once if max|g| <= tolerance_grad
    repeat up to max_iter times:
        k = k + 1                                     (k counts iterations over all steps)
        if k == 1:  d = −g,  H = 1,  history empty
        else:       y = g − g_prev,  s = t·d
                    if yᵀs > 1e-10: append (y, s, ρ = 1/yᵀs) to the history, dropping the
                                    oldest pair when it holds history_size;  H = yᵀs / yᵀy
                    d = −(two-loop recursion of the history)·g, starting from H·q
        g_prev, f_prev = g, f
        t = min(1, 1/Σ|g|)·lr  if k == 1  else  lr
        stop if gᵀd > −tolerance_change
        no line search:  x = x + t·d;  re-evaluate f, g unless this was iteration max_iter
        strong_wolfe:    t, f, g = the strong-Wolfe line search along d from t
                         (c1 = 1e-4, c2 = 0.9, at most max_eval − evaluations so far trials);
                         x = x + t·d
        stop if: iteration max_iter; evaluations >= max_eval; max|g| <= tolerance_grad;
                 max|t·d| <= tolerance_change; |f − f_prev| < tolerance_change

The state carries what torch's does between steps (d, t, the history,
H_diag, prev_flat_grad, prev_loss, n_iter, func_evals). The history is a
fixed buffer of `history_size` pairs used as a ring (`history_start` is the
oldest pair, `history_len` how many are held), which holds exactly the
pairs, in the order, of torch's lists with their `pop(0)` / `append`.

Arithmetic: in the params' dtype (at least float32), as torch computes in
the params' dtype. torch holds the losses and some line-search steps as
Python floats (float64) and mixes them with float32 tensors; here every
scalar is in the compute dtype, so with float32 params the trajectories
agree to float32 rounding, and with float64 params (under
`jax.enable_x64`) to float64 rounding, unless a comparison in the line
search or a stopping rule lands within rounding of its threshold (then
the two take different branches, as two float32 runs of torch on two
machines can).

`lr` may be a schedule `count -> lr`: step number `count` (0 for the first)
uses `lr(count)`, the lr a torch loop holds when it calls
`scheduler.step()` after every `optimizer.step(closure)`.

Arguments are checked at construction (ValueError naming the argument):
torch checks only `lr >= 0`; here also `max_iter`, `max_eval` (when given)
and `history_size` must be integers >= 1 (torch fails later or loops
uselessly with 0), the tolerances must be real numbers (negative disables
a test, as in torch), and `line_search_fn` must be None or
"strong_wolfe" (torch raises a RuntimeError at the first step).
"""

import math
from typing import Any, Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp
from jax import lax
from jax.flatten_util import ravel_pytree

from jaxopt_edu.base import Params, ScalarOrSchedule
from jaxopt_edu.numerics import INT32_MAX, compute_dtype, safe_increment, zero_count
from jaxopt_edu.tree_utils import check_same_shapes
from jaxopt_edu.validation import check_non_negative, check_positive_int, concrete_scalar

__all__ = ["LBFGS", "LBFGSState", "TorchLBFGS"]

Closure = Callable[[Params], tuple]  # params -> (loss, grads)

_WOLFE_C1 = 1e-4  # torch's _strong_wolfe defaults
_WOLFE_C2 = 0.9
_CURVATURE_EPS = 1e-10  # torch: the pair (y, s) enters the history only if yᵀs > 1e-10


class LBFGSState(NamedTuple):
    """torch's LBFGS state (vectors over the raveled params, in the compute dtype)."""

    count: jax.Array  # int32, number of `step` calls (the schedule's step number)
    func_evals: jax.Array  # int32, closure evaluations over all steps
    n_iter: jax.Array  # int32, L-BFGS iterations over all steps
    d: jax.Array  # last search direction
    t: jax.Array  # last step length
    old_dirs: jax.Array  # (history_size, n): the y = g − g_prev of the history (ring buffer)
    old_stps: jax.Array  # (history_size, n): the s = t·d of the history
    ro: jax.Array  # (history_size,): 1 / yᵀs
    history_start: jax.Array  # int32, ring index of the oldest pair
    history_len: jax.Array  # int32, number of pairs held
    H_diag: jax.Array  # scale of the initial inverse Hessian, yᵀs / yᵀy of the newest pair
    prev_flat_grad: jax.Array
    prev_loss: jax.Array


class TorchLBFGS(NamedTuple):
    """`state = init(params)`; `loss, params, state = step(closure, params, state)`."""

    init: Callable[[Params], LBFGSState]
    step: Callable[[Closure, Params, LBFGSState], tuple]


def _dot(a: jax.Array, b: jax.Array) -> jax.Array:
    return jnp.dot(a, b, precision=lax.Precision.HIGHEST)


def _py_max(a, b):
    """Python's `max(a, b)`: `b` only if `b > a` (so a NaN `a` is kept)."""
    return jnp.where(b > a, b, a)


def _py_min(a, b):
    """Python's `min(a, b)`: `b` only if `b < a`."""
    return jnp.where(b < a, b, a)


def _cubic_interpolate(x1, f1, g1, x2, f2, g2, bounds=None):
    """torch's `_cubic_interpolate`: the minimiser of the cubic through (x1, f1, g1) and
    (x2, f2, g2), clipped to `bounds` (default: between x1 and x2); their midpoint when the
    cubic has no real minimiser.

        d1 = g1 + g2 − 3(f1 − f2)/(x1 − x2),   d2 = sqrt(d1² − g1·g2)
        x  = x2 − (x2 − x1)(g2 + d2 − d1)/(g2 − g1 + 2·d2)     (x1 <= x2; mirrored otherwise)
    """
    if bounds is None:
        in_order = x1 <= x2
        xmin_bound, xmax_bound = jnp.where(in_order, x1, x2), jnp.where(in_order, x2, x1)
    else:
        xmin_bound, xmax_bound = bounds
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    d2_square = d1**2 - g1 * g2
    d2 = jnp.sqrt(jnp.where(d2_square >= 0, d2_square, 0))
    min_pos = jnp.where(
        x1 <= x2,
        x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2)),
        x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2)),
    )
    clipped = _py_min(_py_max(min_pos, xmin_bound), xmax_bound)
    return jnp.where(d2_square >= 0, clipped, (xmin_bound + xmax_bound) / 2.0)


class _Search(NamedTuple):
    """The line search's loop state: the trial step `t` to evaluate next, and either the
    bracketing phase's previous point or the zoom phase's bracket [lo/hi by `low`]."""

    phase: jax.Array  # 0: bracketing, 1: zoom, 2: finished
    t: jax.Array
    evals: jax.Array  # int32, closure evaluations so far (ls_iter = evals − 1)
    t_prev: jax.Array
    f_prev: jax.Array
    g_prev: jax.Array
    gtd_prev: jax.Array
    bracket: jax.Array  # (2,) steps
    bracket_f: jax.Array  # (2,)
    bracket_g: jax.Array  # (2, n)
    bracket_gtd: jax.Array  # (2,)
    low: jax.Array  # int32 index of the lower point (high = 1 − low)
    insuf_progress: jax.Array
    done: jax.Array


def _strong_wolfe(evaluate, t, d, f, g, gtd, max_ls, tolerance_change, c1=_WOLFE_C1, c2=_WOLFE_C2):
    """torch's `_strong_wolfe`: `(f_new, g_new, t, evaluations)` at a step t along d that
    satisfies the strong Wolfe conditions

        f(t) <= f + c1·t·gᵀd    and    |g(t)ᵀd| <= −c2·gᵀd,

    or the best point found within `max_ls` further trials. Bracketing: from t, grow
    (cubic extrapolation within [t + 0.01(t − t_prev), 10t]) until a bracket holds such a
    point; zoom: shrink it by cubic interpolation, kept 10% of its width off its ends when
    progress stalls, until it is narrower than `tolerance_change / max|d|`.

    torch's two loops are one `while_loop` here, one closure evaluation per iteration, so
    that the closure is traced once.
    """
    dtype = g.dtype
    d_norm = jnp.max(jnp.abs(d))
    zero = jnp.zeros([], dtype)

    def sufficient_decrease_fails(t_new, f_new):
        return f_new > (f + c1 * t_new * gtd)

    def zoom_or_finish(s: _Search) -> _Search:
        """torch's zoom loop head (in the zoom phase): stop, or pick the next trial t inside the
        bracket."""
        ls_iter = s.evals - 1
        small = jnp.abs(s.bracket[1] - s.bracket[0]) * d_norm < tolerance_change
        in_zoom = s.phase == 1
        go_on = in_zoom & jnp.logical_not(s.done) & (ls_iter < max_ls) & jnp.logical_not(small)
        t_new = _cubic_interpolate(
            s.bracket[0], s.bracket_f[0], s.bracket_gtd[0], s.bracket[1], s.bracket_f[1], s.bracket_gtd[1]
        )
        b_max, b_min = _py_max(s.bracket[0], s.bracket[1]), _py_min(s.bracket[0], s.bracket[1])
        eps = 0.1 * (b_max - b_min)
        near_boundary = _py_min(b_max - t_new, t_new - b_min) < eps
        move = near_boundary & (s.insuf_progress | (t_new >= b_max) | (t_new <= b_min))
        moved_t = jnp.where(jnp.abs(t_new - b_max) < jnp.abs(t_new - b_min), b_max - eps, b_min + eps)
        t_new = jnp.where(move, moved_t, t_new)
        insuf = near_boundary & jnp.logical_not(move)
        return s._replace(
            phase=jnp.where(in_zoom, jnp.where(go_on, 1, 2), s.phase).astype(jnp.int32),
            t=jnp.where(go_on, t_new, s.t),
            insuf_progress=jnp.where(go_on, insuf, s.insuf_progress),
        )

    def bracketing(s: _Search, f_new, g_new, gtd_new) -> _Search:
        ls_iter = s.evals - 1
        can_test = ls_iter < max_ls
        high_found = sufficient_decrease_fails(s.t, f_new) | ((ls_iter > 1) & (f_new >= s.f_prev))
        wolfe = jnp.abs(gtd_new) <= -c2 * gtd
        past_minimum = gtd_new >= 0
        to_zoom = can_test & (high_found | (jnp.logical_not(wolfe) & past_minimum))
        found = can_test & jnp.logical_not(high_found) & wolfe
        out_of_trials = jnp.logical_not(can_test)
        stop = to_zoom | found | out_of_trials
        # the bracket each way of stopping leaves: [t_prev, t], [t] or [0, t]
        first = jnp.where(found, s.t, jnp.where(out_of_trials, zero, s.t_prev))
        first_f = jnp.where(found, f_new, jnp.where(out_of_trials, f, s.f_prev))
        first_g = jnp.where(found, g_new, jnp.where(out_of_trials, g, s.g_prev))
        bracket_f = jnp.stack([first_f, f_new])
        low = jnp.where(found | (bracket_f[0] <= bracket_f[1]), 0, 1).astype(jnp.int32)
        stopped = s._replace(
            bracket=jnp.stack([first, s.t]),
            bracket_f=bracket_f,
            bracket_g=jnp.stack([first_g, g_new]),
            bracket_gtd=jnp.stack([jnp.where(found, gtd_new, s.gtd_prev), gtd_new]),
            low=low,
            done=found,
            insuf_progress=jnp.zeros([], bool),
            phase=jnp.ones([], jnp.int32),  # to the zoom phase, which may stop at once
        )
        # no bracket yet: extrapolate
        min_step = s.t + 0.01 * (s.t - s.t_prev)
        max_step = s.t * 10
        t_next = _cubic_interpolate(s.t_prev, s.f_prev, s.gtd_prev, s.t, f_new, gtd_new, bounds=(min_step, max_step))
        extrapolated = s._replace(t=t_next, t_prev=s.t, f_prev=f_new, g_prev=g_new, gtd_prev=gtd_new)
        return jax.tree.map(lambda a, b: jnp.where(stop, a, b), stopped, extrapolated)

    def zooming(s: _Search, f_new, g_new, gtd_new) -> _Search:
        low, high = s.low, 1 - s.low
        new_high = sufficient_decrease_fails(s.t, f_new) | (f_new >= s.bracket_f[low])
        wolfe = jnp.abs(gtd_new) <= -c2 * gtd
        # Armijo fails or no lower than the low point: the trial becomes the high end
        bracket_f = s.bracket_f.at[high].set(f_new)
        as_high = s._replace(
            bracket=s.bracket.at[high].set(s.t),
            bracket_f=bracket_f,
            bracket_g=s.bracket_g.at[high].set(g_new),
            bracket_gtd=s.bracket_gtd.at[high].set(gtd_new),
            low=jnp.where(bracket_f[0] <= bracket_f[1], 0, 1).astype(jnp.int32),
        )
        # else: the old low becomes the high end if the slope points past it; the trial the low
        flip = jnp.logical_not(wolfe) & (gtd_new * (s.bracket[high] - s.bracket[low]) >= 0)
        src = jnp.where(flip, low, high)
        as_low = s._replace(
            bracket=s.bracket.at[high].set(s.bracket[src]).at[low].set(s.t),
            bracket_f=s.bracket_f.at[high].set(s.bracket_f[src]).at[low].set(f_new),
            bracket_g=s.bracket_g.at[high].set(s.bracket_g[src]).at[low].set(g_new),
            bracket_gtd=s.bracket_gtd.at[high].set(s.bracket_gtd[src]).at[low].set(gtd_new),
            done=wolfe,
        )
        return jax.tree.map(lambda a, b: jnp.where(new_high, a, b), as_high, as_low)

    def body(s: _Search) -> _Search:
        f_new, g_new = evaluate(s.t)
        gtd_new = _dot(g_new, d)
        s = s._replace(evals=s.evals + 1)
        return zoom_or_finish(lax.cond(s.phase == 0, bracketing, zooming, s, f_new, g_new, gtd_new))

    pair = jnp.zeros([2], dtype)
    start = _Search(
        phase=jnp.zeros([], jnp.int32),
        t=jnp.asarray(t, dtype),
        evals=jnp.zeros([], jnp.int32),
        t_prev=zero,
        f_prev=f,
        g_prev=g,
        gtd_prev=gtd,
        bracket=pair,
        bracket_f=pair,
        bracket_g=jnp.zeros((2,) + g.shape, dtype),
        bracket_gtd=pair,
        low=jnp.zeros([], jnp.int32),
        insuf_progress=jnp.zeros([], bool),
        done=jnp.zeros([], bool),
    )
    end = lax.while_loop(lambda s: s.phase < 2, body, start)
    return end.bracket_f[end.low], end.bracket_g[end.low], end.bracket[end.low], end.evals


def _two_loop(g, old_dirs, old_stps, ro, start, length, H_diag):
    """torch's L-BFGS two-loop recursion: d = −H·g for the history's inverse-Hessian H.

        q = −g;  for i = newest … oldest:  α_i = ρ_i·s_iᵀq,  q = q − α_i·y_i
        r = H_diag·q;  for i = oldest … newest:  β_i = ρ_i·y_iᵀr,  r = r + (α_i − β_i)·s_i
    """
    size = old_dirs.shape[0]

    def backward(j, carry):
        q, al = carry
        i = length - 1 - j
        p = (start + i) % size
        a = _dot(old_stps[p], q) * ro[p]
        return q + (-a) * old_dirs[p], al.at[i].set(a)

    q, al = lax.fori_loop(0, length, backward, (-g, jnp.zeros_like(ro)))
    r = q * H_diag

    def forward(i, r):
        p = (start + i) % size
        be_i = _dot(old_dirs[p], r) * ro[p]
        return r + (al[i] - be_i) * old_stps[p]

    return lax.fori_loop(0, length, forward, r)


def _check_real(name: str, value: Any) -> None:
    """A real number, NaN excluded (a negative tolerance switches its test off, as in torch);
    traced values (a grid of settings under jit) pass unchecked."""
    if isinstance(value, jax.core.Tracer):
        return
    number = concrete_scalar(value)
    if isinstance(value, bool) or number is None or math.isnan(number):
        raise ValueError(f"{name} must be a real number, got {value!r}.")


def LBFGS(
    lr: ScalarOrSchedule = 1,
    max_iter: int = 20,
    max_eval: Optional[int] = None,
    tolerance_grad: float = 1e-7,
    tolerance_change: float = 1e-9,
    history_size: int = 100,
    line_search_fn: Optional[str] = None,
) -> TorchLBFGS:
    """torch.optim.LBFGS (torch 2.13): `(init, step)`; see the module docstring for the rule."""
    if not callable(lr):
        if not isinstance(lr, jax.core.Tracer) and (isinstance(lr, bool) or concrete_scalar(lr) is None):
            raise TypeError(f"lr must be a number or a schedule, got {lr!r}.")
        check_non_negative("lr", lr)
    if not isinstance(max_iter, jax.core.Tracer):  # traced: a grid of settings under jit
        check_positive_int("max_iter", max_iter)
    if max_eval is None:
        max_eval = max_iter * 5 // 4  # torch's default (1 for max_iter = 1)
    if not isinstance(max_eval, jax.core.Tracer):
        check_positive_int("max_eval", max_eval)
    _check_real("tolerance_grad", tolerance_grad)
    _check_real("tolerance_change", tolerance_change)
    check_positive_int("history_size", history_size)
    if line_search_fn not in (None, "strong_wolfe"):
        raise ValueError(f"line_search_fn must be None or 'strong_wolfe', got {line_search_fn!r}.")

    def init(params: Params) -> LBFGSState:
        flat, _ = ravel_pytree(params)
        dtype = compute_dtype(flat.dtype)
        vector = jnp.zeros(flat.shape, dtype)
        scalar = jnp.zeros([], dtype)
        return LBFGSState(
            count=zero_count(),
            func_evals=zero_count(),
            n_iter=zero_count(),
            d=vector,
            t=scalar,
            old_dirs=jnp.zeros((history_size,) + flat.shape, dtype),
            old_stps=jnp.zeros((history_size,) + flat.shape, dtype),
            ro=jnp.zeros([history_size], dtype),
            history_start=zero_count(),
            history_len=zero_count(),
            H_diag=jnp.ones([], dtype),
            prev_flat_grad=vector,
            prev_loss=scalar,
        )

    def step(closure: Closure, params: Params, state: LBFGSState):
        flat_params, unravel = ravel_pytree(params)
        dtype = state.d.dtype

        def evaluate(x):
            loss, grads = closure(unravel(x))
            check_same_shapes(grads, params, "grads", "params")
            flat_grad, _ = ravel_pytree(grads)
            return loss, jnp.asarray(loss, dtype), flat_grad.astype(dtype)

        def moved(x, t, d):  # torch's p.add_(d, alpha=t), in the params' dtype
            return (x.astype(dtype) + t * d).astype(x.dtype)

        def add_evals(count, k):
            return jnp.minimum(count, INT32_MAX - k) + k

        lr_now = jnp.asarray(lr(state.count) if callable(lr) else lr, dtype)
        orig_loss, loss, flat_grad = evaluate(flat_params)
        func_evals = add_evals(state.func_evals, 1)
        opt_cond = jnp.max(jnp.abs(flat_grad)) <= tolerance_grad

        def iteration(c):
            n_iter = c["n_iter"] + 1
            total_iter = safe_increment(c["total_iter"])
            first = total_iter == 1
            g = c["g"]
            # update the memory with the last step's pair (y, s)
            y = g - c["prev_flat_grad"]
            s = c["d"] * c["t"]
            ys = _dot(y, s)
            append = jnp.logical_not(first) & (ys > _CURVATURE_EPS)
            start, length = c["history_start"], c["history_len"]
            full = length == history_size
            slot = jnp.where(full, start, (start + length) % history_size)

            def store(buffers):
                old_dirs, old_stps, ro = buffers
                return old_dirs.at[slot].set(y), old_stps.at[slot].set(s), ro.at[slot].set(1.0 / ys)

            old_dirs, old_stps, ro = lax.cond(
                append, store, lambda b: b, (c["old_dirs"], c["old_stps"], c["ro"])
            )
            start = jnp.where(first, 0, jnp.where(append & full, (start + 1) % history_size, start))
            length = jnp.where(first, 0, jnp.where(append & jnp.logical_not(full), length + 1, length))
            H_diag = jnp.where(first, 1, jnp.where(append, ys / _dot(y, y), c["H_diag"])).astype(dtype)
            d = _two_loop(g, old_dirs, old_stps, ro, start, length, H_diag)  # −g at the first iteration
            prev_flat_grad, prev_loss = g, c["loss"]

            inverse_l1 = 1.0 / jnp.sum(jnp.abs(g))
            t = jnp.where(first, jnp.where(inverse_l1 < 1.0, inverse_l1, 1.0) * lr_now, lr_now)
            gtd = _dot(g, d)
            no_descent = gtd > -tolerance_change

            def search(x, loss, g, opt_cond, evals_so_far):
                if line_search_fn == "strong_wolfe":
                    loss, g, t_found, ls_evals = _strong_wolfe(
                        lambda trial: evaluate(moved(x, trial, d))[1:],
                        t, d, loss, g, gtd,
                        max_ls=max_eval - evals_so_far,
                        tolerance_change=tolerance_change,
                    )
                    x = moved(x, t_found, d)
                    return x, loss, g, jnp.max(jnp.abs(g)) <= tolerance_grad, t_found, ls_evals
                x = moved(x, t, d)

                def re_evaluate(_):
                    _, new_loss, new_g = evaluate(x)
                    return new_loss, new_g, jnp.max(jnp.abs(new_g)) <= tolerance_grad, jnp.ones([], jnp.int32)

                def keep(_):
                    return loss, g, opt_cond, jnp.zeros([], jnp.int32)

                loss, g, opt_cond, ls_evals = lax.cond(n_iter != max_iter, re_evaluate, keep, None)
                return x, loss, g, opt_cond, t, ls_evals

            def no_move(x, loss, g, opt_cond, evals_so_far):
                return x, loss, g, opt_cond, t, jnp.zeros([], jnp.int32)

            x, loss, g, opt_cond, t, ls_evals = lax.cond(
                no_descent, no_move, search, c["x"], c["loss"], g, c["opt_cond"], c["current_evals"]
            )
            current_evals = c["current_evals"] + ls_evals
            stop = (
                no_descent
                | (n_iter == max_iter)
                | (current_evals >= max_eval)
                | opt_cond
                | (jnp.max(jnp.abs(d * t)) <= tolerance_change)
                | (jnp.abs(loss - prev_loss) < tolerance_change)
            )
            return dict(
                n_iter=n_iter, total_iter=total_iter, x=x, loss=loss, g=g, opt_cond=opt_cond, d=d,
                t=t, old_dirs=old_dirs, old_stps=old_stps, ro=ro, history_start=start,
                history_len=length, H_diag=H_diag, prev_flat_grad=prev_flat_grad,
                prev_loss=prev_loss, current_evals=current_evals,
                func_evals=add_evals(c["func_evals"], ls_evals), stop=stop,
            )

        carry = dict(
            n_iter=jnp.zeros([], jnp.int32), total_iter=state.n_iter, x=flat_params, loss=loss,
            g=flat_grad, opt_cond=opt_cond, d=state.d, t=state.t, old_dirs=state.old_dirs,
            old_stps=state.old_stps, ro=state.ro, history_start=state.history_start,
            history_len=state.history_len, H_diag=state.H_diag,
            prev_flat_grad=state.prev_flat_grad, prev_loss=state.prev_loss,
            current_evals=jnp.ones([], jnp.int32), func_evals=func_evals, stop=opt_cond,
        )
        c = lax.while_loop(lambda c: jnp.logical_not(c["stop"]), iteration, carry)
        new_state = LBFGSState(
            count=safe_increment(state.count),
            func_evals=c["func_evals"],
            n_iter=c["total_iter"],
            d=c["d"],
            t=c["t"],
            old_dirs=c["old_dirs"],
            old_stps=c["old_stps"],
            ro=c["ro"],
            history_start=c["history_start"],
            history_len=c["history_len"],
            H_diag=c["H_diag"],
            prev_flat_grad=c["prev_flat_grad"],
            prev_loss=c["prev_loss"],
        )
        return orig_loss, unravel(c["x"]), new_state

    return TorchLBFGS(init, step)
