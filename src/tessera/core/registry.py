"""A generic name -> factory registry, plus third-party plugins via entry points.

`@AUTOSCALERS.register("kpa")` on a class makes it selectable from config as
`{kind: kpa, ...params}`. Plugins from other distributions declare an entry
point in the `tessera.plugins` group; `load_entry_points()` imports them once.
"""

from __future__ import annotations

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
        """Build the plugin `name` with `params`; unknown parameters name what is accepted."""
        factory = self.get(name)
        try:
            return factory(**params)
        except TypeError as e:
            import inspect

            accepted = ", ".join(
                p for p in inspect.signature(factory).parameters if p not in ("self",)
            )
            raise InputError(
                f"{self.kind}.{name}", sorted(params), f"parameters {accepted} ({e})"
            ) from None

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
