"""Shared helpers of the loss modules: argument checks and the torch import."""

from __future__ import annotations

from typing import Any

from prefkit._optional import require
from prefkit.errors import ValidationError


def torch() -> Any:
    """The torch module (MissingDependencyError with the install hint when absent)."""
    return require("torch", "optimize")


def same_shape(**tensors: Any) -> None:
    """ValidationError naming the first tensor whose shape differs from the first one's."""
    items = [(k, v) for k, v in tensors.items() if v is not None]
    if not items:
        return
    name0, t0 = items[0]
    for name, t in items[1:]:
        if tuple(t.shape) != tuple(t0.shape):
            raise ValidationError(
                f"{name} has shape {tuple(t.shape)} but {name0} has {tuple(t0.shape)}; pass one value per example"
            )


def positive(name: str, value: float) -> None:
    if not value > 0:
        raise ValidationError(f"{name} must be > 0, got {value}")
