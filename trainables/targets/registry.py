from __future__ import annotations

from typing import Callable

_REGISTRY: dict[str, "Target"] = {}


class Target:
    name = ""

    def dim(self, tubelet: int, patch: int) -> int:
        raise NotImplementedError

    def __call__(self, video, tubelet: int, patch: int):
        raise NotImplementedError


def register(name: str) -> Callable[[type[Target]], type[Target]]:
    def add(cls: type[Target]) -> type[Target]:
        if name in _REGISTRY:
            raise ValueError(f"target {name!r} is registered twice")
        cls.name = name
        _REGISTRY[name] = cls()
        return cls
    return add


def get_target(name: str) -> Target:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown target {name!r}; known: {', '.join(target_names())}") from None


def target_names() -> list[str]:
    return sorted(_REGISTRY)
