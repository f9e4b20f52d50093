"""Names of a package that load on first use (PEP 562), so importing the package stays light.

A package lists ``{name: submodule}`` and sets ``__getattr__ = lazy_getattr(__name__, table)``;
``package.name`` then imports ``package.submodule`` the first time it is asked for. The table stays
readable as ``package.__getattr__.table`` for tools that follow imports without running them
(``tests/test_envs.py`` maps ``from package import name`` to the submodule's imports).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping


def lazy_getattr(package: str, table: Mapping[str, str]) -> Callable[[str], object]:
    """A module ``__getattr__`` that resolves ``name`` in the submodule ``table[name]``."""

    def __getattr__(name: str):
        if name in table:
            return getattr(importlib.import_module(f".{table[name]}", package), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    __getattr__.table = dict(table)
    return __getattr__
