"""Lazy imports of optional dependencies with an install hint."""

from __future__ import annotations

import importlib
from types import ModuleType

from prefkit.errors import MissingDependencyError

_EXTRA_OF = {
    "duckdb": "scale",
    "torch": "reward",
    "sentence_transformers": "reward",
    "safetensors": "reward",
    "matplotlib": "plot",
    "fastapi": "serve",
    "uvicorn": "serve",
    "jinja2": "serve",
    "markdown_it": "serve",
    "nh3": "serve",
    "httpx": "serve",
    "openai": "judge",
    "xllamacpp": "judge",
    "trl": "optimize",
    "transformers": "optimize",
    "gguf": "optimize",
    "datasets": "optimize",
    "ray": "ray",
}


def require(module: str, extra: str | None = None) -> ModuleType:
    """Import ``module`` or raise MissingDependencyError naming the extra that provides it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - depends on the environment
        top = module.split(".")[0]
        extra = extra or _EXTRA_OF.get(top, "all")
        raise MissingDependencyError(
            f"this feature needs the optional package {top!r}: install it with "
            f"pip install 'prefkit[{extra}]' (or pip install {top})"
        ) from exc
