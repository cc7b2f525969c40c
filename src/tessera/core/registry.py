"""A generic name -> factory registry, plus third-party plugins via entry points.

`@AUTOSCALERS.register("kpa")` on a class makes it selectable from config as
`{kind: kpa, ...params}`. Plugins from other distributions declare an entry
point in the `tessera.plugins` group; `load_entry_points()` imports them once.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator, Mapping
from importlib.metadata import entry_points
from typing import Generic, TypeVar, cast

from tessera.core.errors import InputError

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., object])

ENTRY_POINT_GROUP = "tessera.plugins"
_loaded_entry_points = False


class Registry(Generic[T]):
    """Factories of one kind of plugin, keyed by name."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, Callable[..., T]] = {}

    def register(self, name: str) -> Callable[[F], F]:
        def deco(factory: F) -> F:
            if name in self._items:
                raise ValueError(f"{self.kind} {name!r} is already registered")
            self._items[name] = cast(Callable[..., T], factory)
            return factory

        return deco

    def get(self, name: str) -> Callable[..., T]:
        load_entry_points()
        try:
            return self._items[name]
        except KeyError:
            raise InputError(
                f"{self.kind}.kind", name, ", ".join(sorted(self._items)) or "(none registered)"
            ) from None

    def from_config(self, config: Mapping[str, object]) -> T:
        """Build a plugin from its config `{kind: NAME, **params}` (DESIGN.md, Plugins)."""
        params = dict(config)
        kind = params.pop("kind", None)
        return self.create(str(kind), **params)

    def create(self, name: str, **params: object) -> T:
        """Build the plugin `name` with `params`; unknown parameters name what is accepted.

        The parameters are bound against the factory's signature first, so an unknown or
        missing name is told apart from a `TypeError` the factory raises about a value."""
        factory = self.get(name)
        try:
            sig: inspect.Signature | None = inspect.signature(factory)
        except (TypeError, ValueError):  # a builtin or C callable without a signature
            sig = None
        if sig is not None:
            try:
                sig.bind(**params)
            except TypeError:
                raise self._bad_names(name, sig, params) from None
        try:
            return factory(**params)
        except TypeError as e:
            if not params:
                raise  # not about the input: a fault in the plugin itself
            # Values are not shown (a plugin's parameters may hold tokens), only their names.
            raise InputError(
                f"{self.kind}.{name}",
                sorted(params),
                f"values of the types its parameters take ({e})",
            ) from None

    def _bad_names(
        self, name: str, sig: inspect.Signature, params: Mapping[str, object]
    ) -> InputError:
        """The error for parameters that do not bind: unknown names, else a missing one."""
        named = [
            p
            for p in sig.parameters.values()
            if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) and p.name != "self"
        ]
        accepted = ", ".join(p.name for p in named) or "(none)"
        takes_any = any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values())
        known = {p.name for p in named if p.kind is not p.POSITIONAL_ONLY}
        unknown = [] if takes_any else sorted(k for k in params if k not in known)
        if unknown:
            return InputError(f"{self.kind}.{name}", unknown, f"parameters {accepted}")
        missing = [p.name for p in named if p.default is p.empty and p.name not in params]
        if missing:
            return InputError(
                f"{self.kind}.{name}.{missing[0]}", "(missing)", "a value: a required parameter"
            )
        return InputError(f"{self.kind}.{name}", sorted(params), f"parameters {accepted}")

    def names(self) -> list[str]:
        load_entry_points()
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())


def load_entry_points() -> None:
    """Import every module declared under the `tessera.plugins` entry-point group, once."""
    global _loaded_entry_points
    if _loaded_entry_points:
        return
    _loaded_entry_points = True
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        ep.load()
