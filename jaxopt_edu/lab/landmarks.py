"""Where a 1-D loss is flat or changes its bending: minima, maxima, saddles and inflection points.

For a 1-D `LossFunction` L on its window [a, b], with L' and L'' from `jax.grad`:

    stationary points   L'(x) = 0:  a minimum where L' goes from − to +, a maximum from + to −,
                        a saddle (a flat, stationary inflection) where L' touches 0 without changing sign
    inflection points   L''(x) = 0 with L'' changing sign (the curvature flips)

Each is found as a sign change (or a touch of zero, for saddles) of L' or L'' between the
neighbours of a fine grid, then refined by bisection (in float32, JAX's default: to about 1e-7 of the window). The guide's quartic
2x⁴ + 3x³ + 2 has L'(x) = x²(8x + 9): a minimum at −9/8 and a saddle at 0, where the guide's
figure marks its "inflection point"; its L''(x) = 6x(4x + 3) flips sign at −3/4 and at 0.
"""

from typing import Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np

from jaxopt_edu.lab.functions import LossFunction, get_function

GRID_POINTS = 4001


class Landmarks(NamedTuple):
    minima: tuple  # x where L' crosses 0 from − to +
    maxima: tuple  # x where L' crosses 0 from + to −
    saddles: tuple  # x where L' = 0 without changing sign (stationary inflection points)
    inflections: tuple  # x where L'' changes sign (saddles included when L'' flips there)
    global_minimum: Optional[float]  # the minimum with the lowest loss in the window (None: none there)


def _bisect(f: Callable[[float], float], low: float, high: float, steps: int = 60) -> float:
    """A root of f in [low, high], where f(low) and f(high) differ in sign."""
    f_low = f(low)
    for _ in range(steps):
        middle = 0.5 * (low + high)
        f_middle = f(middle)
        if f_middle == 0.0:
            return middle
        if (f_middle < 0) == (f_low < 0):
            low, f_low = middle, f_middle
        else:
            high = middle
    return 0.5 * (low + high)


def _sign_changes(values: np.ndarray) -> list:
    """(i, j) index pairs of neighbouring non-zero values with opposite signs, values[i + 1 : j]
    all exactly zero in between (a root may sit on a grid point)."""
    nonzero = np.flatnonzero(values != 0)
    signs = np.sign(values[nonzero])
    return [(int(nonzero[k]), int(nonzero[k + 1])) for k in np.flatnonzero(signs[:-1] * signs[1:] < 0)]


def landmarks(function, bounds: Optional[tuple] = None, num: int = GRID_POINTS) -> Landmarks:
    """The minima, maxima, saddles and inflection points of a 1-D `function` (a LossFunction or
    its name) in `bounds` (default: its plotting window), each refined by bisection."""
    function = get_function(function)
    if not isinstance(function, LossFunction) or function.dimension != 1:
        raise ValueError(f"landmarks need a 1-D loss function, got {function.name} ({function.dimension}-D).")
    low, high = bounds if bounds is not None else function.bounds[0]
    if not low < high:
        raise ValueError(f"bounds must be (low, high) with low < high, got {bounds!r}.")
    first = jax.jit(jax.vmap(jax.grad(function.loss)))
    second = jax.jit(jax.vmap(jax.grad(jax.grad(function.loss))))
    grid = np.linspace(low, high, num)
    slope = np.asarray(first(jnp.asarray(grid, jnp.float32)), np.float64)
    curvature = np.asarray(second(jnp.asarray(grid, jnp.float32)), np.float64)
    f1 = lambda x: float(first(jnp.asarray([x], jnp.float32))[0])
    f2 = lambda x: float(second(jnp.asarray([x], jnp.float32))[0])
    minima, maxima = [], []
    for i, j in _sign_changes(slope):
        root = _bisect(f1, grid[i], grid[j])
        (minima if slope[i] < 0 else maxima).append(root)
    inflections = [_bisect(f2, grid[i], grid[j]) for i, j in _sign_changes(curvature)]
    # a saddle: an inflection point where the slope is (numerically) zero, not a minimum or maximum
    scale = max(float(np.max(np.abs(slope))), 1e-30)
    saddles = [x for x in inflections if abs(f1(x)) <= 1e-6 * scale
               and not any(abs(x - m) < 1e-4 * (high - low) for m in minima + maxima)]
    losses = {m: float(function.loss(jnp.asarray(m, jnp.float32))) for m in minima}
    best = min(losses, key=losses.get) if losses else None
    as_floats = lambda points: tuple(float(x) for x in points)
    return Landmarks(as_floats(minima), as_floats(maxima), as_floats(saddles), as_floats(inflections),
                     None if best is None else float(best))

