"""The registry of reward heads by name (the ``--head`` choices of ``prefkit reward``)."""

from __future__ import annotations

from typing import Any

from prefkit.errors import ValidationError
from prefkit.reward.armo import ArmoHead
from prefkit.reward.base import RewardHead
from prefkit.reward.bt import BradleyTerryHead, ScaledBTHead
from prefkit.reward.conditioned import AttributesHead, ConditionedHead
from prefkit.reward.finetune import FinetuneHead
from prefkit.reward.plackett_luce import PlackettLuceHead
from prefkit.reward.pluralistic import MaxMinHead, PALHead
from prefkit.reward.regression import RegressionHead

HEAD_NAMES = ("bt", "mlp", "scaled-bt", "regression", "armo", "pl", "pal", "maxmin", "finetune", "conditioned", "attributes")

_CLASSES: dict[str, type[RewardHead]] = {
    "bt": BradleyTerryHead,
    "mlp": BradleyTerryHead,
    "scaled-bt": ScaledBTHead,
    "regression": RegressionHead,
    "armo": ArmoHead,
    "pl": PlackettLuceHead,
    "pal": PALHead,
    "maxmin": MaxMinHead,
    "finetune": FinetuneHead,
    "conditioned": ConditionedHead,
    "attributes": AttributesHead,
}
_DEFAULTS: dict[str, dict[str, Any]] = {"mlp": {"hidden": 32, "l2": 1e-2, "epochs": 100, "lr": 5e-3}}


def check_head(name: str) -> str:
    if name not in _CLASSES:
        raise ValidationError(f"unknown head {name!r}; choose one of {', '.join(HEAD_NAMES)}")
    return name


def make_head(name: str, **params: Any) -> RewardHead:
    """A fresh head of kind ``name`` with its defaults, overridden by ``params``."""
    cls = _CLASSES[check_head(name)]
    try:
        return cls(**{**_DEFAULTS.get(name, {}), **params})
    except TypeError as exc:
        raise ValidationError(f"head {name!r} does not take these parameters: {exc}") from None


def head_class(kind: str) -> type[RewardHead]:
    """The class that saved heads of ``kind`` load into."""
    return _CLASSES[check_head(kind)]
