"""One thread for BLAS and OpenMP while fitting: the matrices are small, and on a shared machine threads only
contend (measured here: a boosting fit 7x faster, a Newton step 4x faster single-threaded)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TypeVar

from threadpoolctl import threadpool_limits

F = TypeVar("F", bound=Callable)


def single_threaded(fn: F) -> F:
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with threadpool_limits(limits=1):
            return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
