from __future__ import annotations

from trainables.registry import Registry


class Target:
    name = ""
    loss = "mse"                # or "cross_entropy": __call__ gives class indices (B, N)
    needs_tokenizer = False

    def dim(self, tubelet: int, patch: int) -> int:
        raise NotImplementedError

    def output_dim(self, cfg) -> int:
        """Width of the decoder's head for this target in trial `cfg`."""
        return self.dim(cfg.model.tubelet_size, cfg.model.patch_size)

    def bind(self, tokenizer_dir: str | None, device) -> "Target":
        """The target ready to compute labels in a worker (a tokenizer target loads its weights)."""
        return self

    def problems(self, tubelet: int, patch: int) -> list[str]:
        """What this target cannot do with the model's tubelet and patch sizes."""
        return []

    def __call__(self, video, tubelet: int, patch: int):
        raise NotImplementedError


_TARGETS: Registry[Target] = Registry("target")
register = _TARGETS.register
get_target = _TARGETS.get
target_names = _TARGETS.names
