"""A reward model on disk: ``weights.safetensors`` (the head's arrays) + ``config.json`` (head kind and
parameters, learned scalars, the encoder, the calibration temperature). Loading gives back the same arrays
bit for bit, so a loaded model scores exactly as the saved one did.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from prefkit._optional import require
from prefkit.errors import InputError
from prefkit.reward.base import RewardHead
from prefkit.reward.encoders import EncoderSpec
from prefkit.reward.heads import head_class

FORMAT = "prefkit-reward-model"
VERSION = 1


@dataclass
class RewardModel:
    """A fitted head, the encoder it expects, and its calibration temperature."""

    head: RewardHead
    head_name: str
    encoder: EncoderSpec
    temperature: float = 1.0
    meta: dict[str, Any] = field(default_factory=dict)


def _jsonable(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, list | tuple):
        return [_jsonable(x) for x in v]
    return v


def save_model(model: RewardModel, path: str | Path) -> Path:
    """Write ``model`` into the directory ``path`` (created if needed)."""
    st = require("safetensors.numpy", extra="reward")
    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)
    arrays, other = model.head.get_state()
    from prefkit import __version__

    config = {
        "format": FORMAT,
        "version": VERSION,
        "prefkit_version": __version__,
        "head": model.head_name,
        "params": {k: _jsonable(v) for k, v in model.head.get_params().items()},
        "learned": {k: _jsonable(v) for k, v in other.items()},
        "encoder": model.encoder.to_dict(),
        "temperature": model.temperature,
        "meta": model.meta,
    }
    st.save_file({k: np.ascontiguousarray(v) for k, v in arrays.items()}, str(out / "weights.safetensors"))
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    return out


def load_model(path: str | Path) -> RewardModel:
    """Read a model directory written by :func:`save_model`."""
    d = Path(path)
    cfg_path, w_path = d / "config.json", d / "weights.safetensors"
    if not cfg_path.is_file() or not w_path.is_file():
        raise InputError(
            "not a prefkit reward model directory (config.json and weights.safetensors expected); "
            "create one with: prefkit reward train FILE --out DIR",
            path=d,
        )
    try:
        config = json.loads(cfg_path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise InputError(f"config.json is not valid JSON ({exc})", path=cfg_path) from None
    if config.get("format") != FORMAT:
        raise InputError(f"config.json is not a {FORMAT} config", path=cfg_path)
    if config.get("version", 0) > VERSION:
        raise InputError(
            f"model format version {config['version']} is newer than this prefkit reads ({VERSION})",
            path=cfg_path,
        )
    st = require("safetensors.numpy", extra="reward")
    arrays = dict(st.load_file(str(w_path)))
    head = head_class(config["head"]).from_state(config["params"], arrays, config.get("learned", {}))
    return RewardModel(
        head=head,
        head_name=config["head"],
        encoder=EncoderSpec.from_dict(config["encoder"]),
        temperature=float(config.get("temperature", 1.0)),
        meta=config.get("meta", {}),
    )
