"""Lazy package exports (PEP 562): a name's module is imported on first use, not at import."""

from __future__ import annotations

import importlib


def lazy_exports(package: str, exports: dict[str, str]):
    """Module-level ``__getattr__`` and ``__dir__`` serving ``exports`` (name -> module).

    Examples
    --------
    >>> getattr_, dir_ = lazy_exports("demo", {"sqrt": "math"})
    >>> getattr_("sqrt")(9.0)
    3.0
    >>> dir_()
    ['sqrt']
    """

    def __getattr__(name: str):
        try:
            module = exports[name]
        except KeyError:
            raise AttributeError(f"module {package!r} has no attribute {name!r}") from None
        return getattr(importlib.import_module(module), name)

    def __dir__() -> list[str]:
        return sorted(exports)

    return __getattr__, __dir__
