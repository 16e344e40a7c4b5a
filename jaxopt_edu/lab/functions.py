"""Loss functions with known minima, for watching optimizers move.

Each `LossFunction` is a differentiable `x -> loss` on a 1-D (shape `()`) or
2-D (shape `(2,)`) point, with its minimiser, its minimum value, a default
start point and a plotting window. They are the classic test problems:

    quartic                     L(x)   = 2x⁴ + 3x³ + 2                 saddle at 0, minimum at −9/8
    rosenbrock                  f(x,y) = (1 − x)² + 100 (y − x²)²      a curved valley, minimum (1, 1)
    beale                       f(x,y) = Σᵢ (cᵢ − x + x yⁱ)², c = (1.5, 2.25, 2.625)    minimum (3, 0.5)
    saddle                      f(x,y) = x² − y² + y⁴/4                saddle at 0, minima (0, ±√2)
    ill_conditioned_quadratic   f(x,y) = ½ (x² + κ y²)                  minimum (0, 0), condition number κ
"""

import dataclasses
import math
from typing import Callable, Optional

import jax
import jax.numpy as jnp
import numpy as np


@dataclasses.dataclass(frozen=True)
class LossFunction:
    """A test problem: the loss, where its minimum is, where to start, what to draw."""

    name: str
    loss: Callable[[jax.Array], jax.Array]
    minimizer: tuple  # x* (a 1-tuple for 1-D functions)
    minimum: float  # L(x*)
    start: tuple  # the default start point
    bounds: tuple  # ((low, high),) or ((x_low, x_high), (y_low, y_high)) for plots
    formula: str

    @property
    def dimension(self) -> int:
        return len(self.minimizer)

    @property
    def shape(self) -> tuple:
        """The shape of a point: `()` in 1-D, `(2,)` in 2-D."""
        return () if self.dimension == 1 else (self.dimension,)

    def point(self, values=None, dtype=jnp.float32) -> jax.Array:
        """`values` (default: the start point) as an array of this function's point shape, finite in `dtype`."""
        values = self.start if values is None else values
        with np.errstate(over="ignore"):  # 1e308 in float32 is inf, refused below
            array = jnp.asarray(values, dtype)
        if array.size != self.dimension:
            raise ValueError(
                f"{self.name} takes a {self.dimension}-D point, got {len(array.reshape(-1))} value(s): "
                f"{values!r}."
            )
        if not bool(jnp.all(jnp.isfinite(array))):
            raise ValueError(f"a start point must be finite in {jnp.dtype(dtype).name}, got {values!r}.")
        return array.reshape(self.shape)

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.loss(x)


def _quartic(x):
    return 2 * x**4 + 3 * x**3 + 2


def _rosenbrock(p):
    x, y = p[0], p[1]
    return (1 - x) ** 2 + 100 * (y - x**2) ** 2


def _beale(p):
    x, y = p[0], p[1]
    return (1.5 - x + x * y) ** 2 + (2.25 - x + x * y**2) ** 2 + (2.625 - x + x * y**3) ** 2


def _saddle(p):
    x, y = p[0], p[1]
    return x**2 - y**2 + y**4 / 4


quartic = LossFunction(
    name="quartic",
    loss=_quartic,
    minimizer=(-9 / 8,),
    minimum=2 - 2187 / 2048,  # L(−9/8) = x³(2x + 3) + 2
    start=(2.0,),
    bounds=((-2.0, 2.0),),
    formula="L(x) = 2x⁴ + 3x³ + 2",
)

rosenbrock = LossFunction(
    name="rosenbrock",
    loss=_rosenbrock,
    minimizer=(1.0, 1.0),
    minimum=0.0,
    start=(-1.5, 2.0),
    bounds=((-2.0, 2.0), (-1.0, 3.0)),
    formula="f(x, y) = (1 − x)² + 100 (y − x²)²",
)

beale = LossFunction(
    name="beale",
    loss=_beale,
    minimizer=(3.0, 0.5),
    minimum=0.0,
    start=(1.0, 1.5),
    bounds=((-4.5, 4.5), (-4.5, 4.5)),
    formula="f(x, y) = (1.5 − x + xy)² + (2.25 − x + xy²)² + (2.625 − x + xy³)²",
)

saddle = LossFunction(
    name="saddle",
    loss=_saddle,
    minimizer=(0.0, math.sqrt(2.0)),  # and its mirror image (0, −√2)
    minimum=-1.0,
    start=(1.5, 0.01),
    bounds=((-2.0, 2.0), (-2.5, 2.5)),
    formula="f(x, y) = x² − y² + y⁴/4",
)


def ill_conditioned_quadratic(condition_number: float = 25.0) -> LossFunction:
    """f(x, y) = ½ (x² + κ y²): curvature 1 along x and κ along y."""
    if not condition_number >= 1.0:
        raise ValueError(f"condition_number must be >= 1, got {condition_number!r}.")
    kappa = float(condition_number)
    return LossFunction(
        name="ill_conditioned_quadratic",
        loss=lambda p: 0.5 * (p[0] ** 2 + kappa * p[1] ** 2),
        minimizer=(0.0, 0.0),
        minimum=0.0,
        start=(-4.0, 1.0),
        bounds=((-4.5, 4.5), (-1.5, 1.5)),
        formula=f"f(x, y) = ½ (x² + {kappa:g} y²)",
    )


FUNCTIONS = {
    "quartic": quartic,
    "rosenbrock": rosenbrock,
    "beale": beale,
    "saddle": saddle,
    "ill_conditioned_quadratic": ill_conditioned_quadratic(),
}


def get_function(name_or_function) -> LossFunction:
    """A `LossFunction` by name (see `FUNCTIONS`), or the function itself."""
    if isinstance(name_or_function, LossFunction):
        return name_or_function
    key = str(name_or_function).strip().lower().replace("-", "_")
    if key not in FUNCTIONS:
        raise ValueError(f"unknown test function {name_or_function!r}; choose one of: {', '.join(FUNCTIONS)}.")
    return FUNCTIONS[key]


def log_loss_grid(function: LossFunction, num: int = 200, bounds: Optional[tuple] = None):
    """The loss on a grid over `bounds`, as `log(L − L* + 1e-3)`, for drawing landscapes.

    Returns `(axes, values)`: `axes` is a tuple of 1-D coordinate arrays, one
    per dimension, and `values` has shape `(num,) * dimension`, indexed
    `values[i]` in 1-D and `values[j, i]` (y, then x) in 2-D, as `contourf`
    expects.
    """
    bounds = function.bounds if bounds is None else bounds
    axes = tuple(jnp.linspace(low, high, num) for low, high in bounds)
    if function.dimension == 1:
        values = jax.vmap(function.loss)(axes[0])
    else:
        grid_x, grid_y = jnp.meshgrid(axes[0], axes[1])
        points = jnp.stack([grid_x.reshape(-1), grid_y.reshape(-1)], axis=-1)
        values = jax.vmap(function.loss)(points).reshape(grid_x.shape)
    return axes, jnp.log(values - function.minimum + 1e-3)
