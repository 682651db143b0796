from __future__ import annotations

from trainables.registry import Registry


class Target:
    name = ""

    def dim(self, tubelet: int, patch: int) -> int:
        raise NotImplementedError

    def __call__(self, video, tubelet: int, patch: int):
        raise NotImplementedError


_TARGETS: Registry[Target] = Registry("target")
register = _TARGETS.register
get_target = _TARGETS.get
target_names = _TARGETS.names
