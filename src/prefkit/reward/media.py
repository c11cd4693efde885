"""Contrastive media encoders: images through CLIP-style models, audio through CLAP-style models.

A media item is a file: its text in the data is a path (relative to the data file) or a ``file://`` URI, as in
HPS v2 / Pick-a-Pic (prompt, image A, image B) and MusicRL (prompt, clip A, clip B). The encoder keeps the one-method
protocol of :mod:`prefkit.reward.encoders` (``encode(texts) -> (n, dim)``); each string it is given is one of

* a media reference (``file:///abs/path.png#v=SIZE-MTIME``, as :func:`resolve_media` writes it) -> the media tower's
  embedding, L2-normalised (``dim`` values);
* ``prompt + PAIR_SEP + reference`` (the ``prompt+response`` text mode) -> the media embedding ``m`` followed by
  ``sqrt(dim) * t * m`` with ``t`` the prompt's text embedding: a linear head on the second block is a weighted
  cosine between prompt and media, the score HPS v2 and CLIP-score use, and on the first block a prompt-free
  preference (aesthetics) (``2 * dim`` values);
* any other text -> the text tower's embedding (prompts, conditions, text responses) (``dim`` values).

Models load from a local directory with ``transformers`` (``AutoModel`` + ``AutoProcessor``), as saved by
``save_pretrained``; hub names work where the hub is reachable. The version suffix of a reference (file size and
modification time) keys the embedding cache, so an edited file is embedded again.
"""

from __future__ import annotations

import math
import os
import wave
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import numpy as np

from prefkit._optional import require
from prefkit.errors import ValidationError

PAIR_SEP = "\x1f"  # ASCII unit separator: never in a prompt the readers keep
IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp", ".tif", ".tiff")
AUDIO_EXTS = (".wav", ".flac", ".mp3", ".ogg", ".oga", ".opus")
MEDIA_BACKENDS = {"clip": "image", "clap": "audio"}


def media_kind(text: str) -> str | None:
    """``"image"`` / ``"audio"`` when ``text`` names a media file (a path or ``file://``/``http(s)://`` URI with a
    known extension), else None."""
    s = text.strip()
    if not s or "\n" in s or len(s) > 4096:
        return None
    path = urlparse(s).path if "://" in s else s
    low = path.lower()
    if low.endswith(IMAGE_EXTS):
        return "image"
    if low.endswith(AUDIO_EXTS):
        return "audio"
    return None


def resolve_media(text: str, base: Path | None) -> tuple[str, Path]:
    """``(reference, path)`` for a media item's text: the absolute ``file://`` URI with a version suffix, and the
    path. Raises ``FileNotFoundError`` (message: the path tried) when the file is missing and ``ValueError`` for
    a remote URL."""
    s = text.strip()
    if "://" in s:
        u = urlparse(s)
        if u.scheme != "file":
            raise ValueError(f"{s!r} is a remote URL; download the file and give its path")
        p = Path(unquote(u.path))
    else:
        p = Path(s).expanduser()
        if not p.is_absolute() and base is not None:
            p = base / p
    p = p.resolve()
    try:
        st = p.stat()
    except OSError:
        raise FileNotFoundError(str(p)) from None
    if not p.is_file():
        raise FileNotFoundError(str(p))
    return f"{p.as_uri()}#v={st.st_size}-{st.st_mtime_ns}", p


def _ref_path(ref: str) -> Path:
    return Path(unquote(urlparse(ref.partition("#")[0]).path))


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    """A WAV file as mono float32 in [-1, 1] and its sampling rate (other formats need ``soundfile``)."""
    if path.suffix.lower() != ".wav":
        sf = require("soundfile", extra="media")
        data, sr = sf.read(str(path), dtype="float32", always_2d=True)
        return np.asarray(data.mean(axis=1), dtype=np.float32), int(sr)
    try:
        with wave.open(str(path), "rb") as w:
            sr, ch, width, n = w.getframerate(), w.getnchannels(), w.getsampwidth(), w.getnframes()
            raw = w.readframes(n)
    except (wave.Error, EOFError) as exc:
        raise ValidationError(f"{path}: not a readable WAV file ({exc})") from None
    if width == 1:
        x = (np.frombuffer(raw, dtype=np.uint8).astype(np.float32) - 128.0) / 128.0
    elif width in (2, 4):
        dt = np.int16 if width == 2 else np.int32
        x = np.frombuffer(raw, dtype=dt).astype(np.float32) / float(np.iinfo(dt).max)
    else:
        raise ValidationError(f"{path}: {8 * width}-bit WAV is not supported; use 8, 16 or 32-bit PCM")
    return x.reshape(-1, ch).mean(axis=1), sr


def resample(x: np.ndarray, sr: int, target: int) -> np.ndarray:
    """Polyphase resampling (scipy) from ``sr`` to ``target`` Hz."""
    if sr == target:
        return x
    from scipy.signal import resample_poly

    g = math.gcd(sr, target)
    return np.asarray(resample_poly(x, target // g, sr // g), dtype=np.float32)


class MediaEncoder:
    """A CLIP-style (``kind="image"``) or CLAP-style (``kind="audio"``) dual encoder; loaded on first use."""

    def __init__(self, model: str, kind: str, *, batch_size: int = 32, num_threads: int | None = None) -> None:
        if kind not in ("image", "audio"):
            raise ValidationError(f"media kind {kind!r} is unknown; use image or audio")
        self.model = model
        self.kind = kind
        self.batch_size = batch_size
        self.num_threads = num_threads
        self.name = f"{'clip' if kind == 'image' else 'clap'}:{model}"
        self._m: Any = None
        self._proc: Any = None

    def _load(self) -> tuple[Any, Any]:
        if self._m is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            torch = require("torch", extra="reward")
            transformers = require("transformers", extra="reward")
            transformers.utils.logging.disable_progress_bar()
            transformers.utils.logging.set_verbosity_error()
            if self.num_threads:
                torch.set_num_threads(self.num_threads)
            what = "CLIP" if self.kind == "image" else "CLAP"
            try:
                self._m = transformers.AutoModel.from_pretrained(self.model).eval()
                self._proc = transformers.AutoProcessor.from_pretrained(self.model)
            except (OSError, ValueError) as exc:
                raise ValidationError(
                    f"--encoder {self.name}: cannot load a {what} model from {self.model!r} ({str(exc).splitlines()[0]}); "
                    "give a local directory saved with save_pretrained (model and processor)"
                ) from None
            need = "get_image_features" if self.kind == "image" else "get_audio_features"
            if not hasattr(self._m, need) or not hasattr(self._m, "get_text_features"):
                raise ValidationError(
                    f"--encoder {self.name}: {type(self._m).__name__} is not a {what}-style dual encoder "
                    f"(it lacks {need} or get_text_features)"
                )
        return self._m, self._proc

    @staticmethod
    def _vec(out: Any) -> np.ndarray:
        t = getattr(out, "pooler_output", out)  # transformers 5 wraps the projected features
        v = t.detach().cpu().numpy().astype(np.float32)
        n = np.linalg.norm(v, axis=1, keepdims=True)
        return v / np.where(n > 0, n, 1.0)

    def _text(self, texts: list[str]) -> np.ndarray:
        m, proc = self._load()
        import torch

        with torch.no_grad():
            tok = proc(text=texts, return_tensors="pt", padding=True, truncation=True)
            return self._vec(m.get_text_features(**{k: v for k, v in tok.items() if k in ("input_ids", "attention_mask")}))

    def _media(self, refs: list[str]) -> np.ndarray:
        m, proc = self._load()
        import torch

        if self.kind == "image":
            from PIL import Image, UnidentifiedImageError

            imgs = []
            for r in refs:
                p = _ref_path(r)
                try:
                    with Image.open(p) as im:
                        imgs.append(im.convert("RGB"))
                except (OSError, UnidentifiedImageError) as exc:
                    raise ValidationError(f"{p}: not a readable image ({exc})") from None
            with torch.no_grad():
                return self._vec(m.get_image_features(pixel_values=proc(images=imgs, return_tensors="pt")["pixel_values"]))
        fe = proc.feature_extractor
        sr = int(fe.sampling_rate)
        n_max = int(getattr(fe, "nb_max_samples", 10 * sr))
        # the first max_length seconds, so that the extractor never crops at random
        waves = [resample(*read_wav(_ref_path(r)), sr)[:n_max] for r in refs]
        with torch.no_grad():
            inp = fe(waves, sampling_rate=sr, return_tensors="pt")
            kw = {k: inp[k] for k in ("input_features", "is_longer") if k in inp}
            return self._vec(m.get_audio_features(**kw))

    def encode(self, texts: Sequence[str], progress: Callable[[int], Any] | None = None) -> np.ndarray:
        texts = list(texts)
        kinds = [self._split(t) for t in texts]
        pair = [k[0] is not None for k in kinds]
        if any(pair) and not all(pair):
            raise ValidationError(
                f"--encoder {self.name}: some responses are {self.kind} files and some are texts; in the "
                "prompt+response text mode give one kind per file"
            )
        out: np.ndarray | None = None
        for lo in range(0, len(texts), self.batch_size):
            chunk = kinds[lo : lo + self.batch_size]
            emb = self._chunk(chunk)
            if out is None:
                out = np.empty((len(texts), emb.shape[1]), dtype=np.float32)
            out[lo : lo + len(chunk)] = emb
            if progress is not None:
                progress(len(chunk))
        return out if out is not None else np.zeros((0, 0), dtype=np.float32)

    def _split(self, text: str) -> tuple[str | None, str, bool]:
        """(prompt or None, body, body is a media reference)."""
        prompt = None
        if PAIR_SEP in text:
            prompt, _, text = text.partition(PAIR_SEP)
        is_media = text.startswith("file://") and media_kind(text.partition("#")[0]) is not None
        if is_media and media_kind(text.partition("#")[0]) != self.kind:
            raise ValidationError(
                f"--encoder {self.name} embeds {self.kind} files; {_ref_path(text)} is not one"
            )
        return prompt, text, is_media

    def _chunk(self, chunk: list[tuple[str | None, str, bool]]) -> np.ndarray:
        media = [i for i, (_, _, m) in enumerate(chunk) if m]
        texts = [i for i, (_, _, m) in enumerate(chunk) if not m]
        body = np.empty((len(chunk), 0), dtype=np.float32)
        if media:
            mv = self._media([chunk[i][1] for i in media])
            body = np.empty((len(chunk), mv.shape[1]), dtype=np.float32)
            body[media] = mv
        if texts:
            tv = self._text([chunk[i][1] for i in texts])
            if body.shape[1] == 0:
                body = np.empty((len(chunk), tv.shape[1]), dtype=np.float32)
            body[texts] = tv
        if chunk[0][0] is None:
            return body
        pv = self._text([p or "" for p, _, _ in chunk])
        return np.concatenate([body, math.sqrt(body.shape[1]) * pv * body], axis=1).astype(np.float32)
