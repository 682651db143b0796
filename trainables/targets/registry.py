from __future__ import annotations

from trainables.registry import Registry


class Target:
    name = ""

    def dim(self, tubelet: int, patch: int) -> int:
        raise NotImplementedError

    def problems(self, tubelet: int, patch: int) -> list[str]:
        """What this target cannot do with the model's tubelet and patch sizes."""
        return []

    def __call__(self, video, tubelet: int, patch: int):
        raise NotImplementedError


_TARGETS: Registry[Target] = Registry("target")
register = _TARGETS.register
get_target = _TARGETS.get
target_names = _TARGETS.names
