"""`jaxopt_edu.testing`: a conformance kit that property-tests any gradient transformation.

    import jaxopt_edu as jo
    jo.testing.check_transformation(my_transformation())           # raises AssertionError naming
    jo.testing.assert_dtype_preserved(my_transformation(), params)  # the property and the leaf

Works on jaxopt_edu's and optax's transformations alike (anything with
`init(params)` and `update(updates, state, params=None)`). The properties are
listed in `properties.py`; the test trees are built in `trees.py`.

Two parts need the test extras and import them only when used:
`jaxopt_edu.testing.strategies` (hypothesis strategies; import the module)
and `conformance_test` / `parametrize_transformations` (pytest).
"""

from jaxopt_edu.testing import trees
from jaxopt_edu.testing.check import PROPERTIES, check_transformation
from jaxopt_edu.testing.parametrize import conformance_test, parametrize_transformations
from jaxopt_edu.testing.properties import (
    assert_dtype_preserved,
    assert_finite_updates,
    assert_jit_matches_eager,
    assert_params_none_handled,
    assert_pure,
    assert_state_follows_sharding,
    assert_state_structure_stable,
    assert_traces_once,
    assert_vmappable,
)


def __getattr__(name):
    """`jo.testing.strategies` without importing hypothesis at `import jaxopt_edu`."""
    if name == "strategies":
        import importlib

        return importlib.import_module("jaxopt_edu.testing.strategies")
    raise AttributeError(f"module 'jaxopt_edu.testing' has no attribute {name!r}")


__all__ = [
    "check_transformation",
    "PROPERTIES",
    "assert_pure",
    "assert_jit_matches_eager",
    "assert_dtype_preserved",
    "assert_state_structure_stable",
    "assert_traces_once",
    "assert_vmappable",
    "assert_finite_updates",
    "assert_params_none_handled",
    "assert_state_follows_sharding",
    "conformance_test",
    "parametrize_transformations",
    "trees",
]
