"""Running the kit over many transformations under pytest, one test id each.

    import jaxopt_edu as jo
    test_my_optimizers = jo.testing.conformance_test({"mine": my_optimizer(1e-3), "mine_nesterov": ...})

or, to write the test body yourself:

    @jo.testing.parametrize_transformations({"mine": lambda: my_optimizer(1e-3)})
    def test_mine(tx):
        jo.testing.check_transformation(tx, steps=2)

pytest is imported only when these are called, so `import jaxopt_edu`
never needs it.
"""

from typing import Any, Callable, Iterable, Mapping, Union

from jaxopt_edu.testing.check import check_transformation

Cases = Union[Mapping[str, Any], Iterable[Any]]


def _is_transformation(value: Any) -> bool:
    return hasattr(value, "init") and hasattr(value, "update")


def _named_cases(cases: Cases) -> list[tuple[str, Any]]:
    """(id, transformation) pairs: a mapping's keys, or factories' names for a list of zero-argument factories."""
    if isinstance(cases, Mapping):
        items = list(cases.items())
    else:
        items = []
        for index, value in enumerate(cases):
            name = getattr(value, "__name__", None)
            items.append((name if name and name != "<lambda>" else f"case{index}", value))
    named = []
    for name, value in items:
        tx = value if _is_transformation(value) else value() if callable(value) else value
        if not _is_transformation(tx):
            raise TypeError(f"case {name!r} is not a gradient transformation (or a function returning one): "
                            f"{type(tx).__name__}.")
        named.append((str(name), tx))
    ids = [name for name, _ in named]
    repeated = sorted({name for name in ids if ids.count(name) > 1})
    if repeated:
        raise ValueError(f"test ids must be unique; repeated: {repeated}. Pass a mapping of names.")
    return named


def parametrize_transformations(cases: Cases, argname: str = "tx") -> Callable:
    """`pytest.mark.parametrize(argname, ...)` over built transformations, with the cases' names as ids.

    `cases`: a mapping name -> transformation (or zero-argument function
    returning one), or a list of such functions (ids: their `__name__`).
    """
    import pytest

    named = _named_cases(cases)
    return pytest.mark.parametrize(argname, [tx for _, tx in named], ids=[name for name, _ in named])


def conformance_test(cases: Cases, **check_options: Any) -> Callable:
    """A ready pytest test function running `check_transformation(tx, **check_options)` on each case.

    Assign it to a `test_*` name in a test module for pytest to collect it.
    """

    @parametrize_transformations(cases)
    def test_conforms(tx):
        check_transformation(tx, **check_options)

    return test_conforms
