"""Range checks of the trainers' options, shared by `finetune` and `vqgan train`.

A float option must be a finite number in its range: NaN passes every `<` and `>` test and infinity
passes a lower bound, and either one ends a run in a traceback or in NaN weights after all its work.
The same checks run on options read back from a saved run, so a damaged trainer.json is one line too.
"""

from __future__ import annotations

import math
from typing import Any

from blogart.errors import UsageError

MAX_SEED = 2**32 - 1  # jax.random.PRNGKey and numpy's generators both take any seed up to here


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def check_float(
    name: str,
    value: Any,
    *,
    above: float | None = None,
    at_least: float | None = None,
    below: float | None = None,
    at_most: float | None = None,
) -> None:
    """UsageError unless `value` is a finite number within the given bounds (one line naming the flag)."""
    bounds = [
        f"{sign} {bound:g}"
        for sign, bound in ((">", above), (">=", at_least), ("<", below), ("<=", at_most))
        if bound is not None
    ]
    wanted = f"a finite number {' and '.join(bounds)}" if bounds else "a finite number"
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise UsageError(f"{_flag(name)} must be {wanted}, got {value!r}")
    ok = math.isfinite(value)
    ok = ok and (above is None or value > above) and (at_least is None or value >= at_least)
    ok = ok and (below is None or value < below) and (at_most is None or value <= at_most)
    if not ok:
        raise UsageError(f"{_flag(name)} must be {wanted}, got {value:g}")


def check_int(name: str, value: Any, at_least: int, at_most: int | None = None) -> None:
    """UsageError unless `value` is an integer within [at_least, at_most]."""
    wanted = f"an integer >= {at_least}" + (f" and <= {at_most}" if at_most is not None else "")
    if isinstance(value, bool) or not isinstance(value, int):
        raise UsageError(f"{_flag(name)} must be {wanted}, got {value!r}")
    if value < at_least or (at_most is not None and value > at_most):
        raise UsageError(f"{_flag(name)} must be {wanted}, got {value}")


def check_seed(value: Any) -> None:
    check_int("seed", value, 0, MAX_SEED)
