"""Properties of responses: computed from the text, supplied by the user, or tagged by a judge.

Computed properties are vectorised over an array of texts (pyarrow's RE2 string kernels, no Python loop
per text) and return a :class:`PropertyTable` (``values[i, k]`` is property ``k`` of text ``i``):

====================  ==================================================================================
``length_words``      number of whitespace-separated words
``length_chars``      number of characters (not in :data:`DEFAULT_COMPUTED`: collinear with words)
``list_density``      share of lines that are list items (``-``, ``*``, ``+``, ``1.``, ``1)``)
``header_density``    share of lines that are markdown headers (``#`` .. ``######``)
``code_blocks``       number of fenced code blocks (pairs of ```` ``` ````)
``markdown``          number of markdown marks (bold, italics, inline code, links, tables, quotes)
``bold``              number of ``**bold**`` / ``__bold__`` spans
``refusal``           1 when the text contains a refusal phrase ("I can't", "as an AI", "I'm unable" ...)
``hedging``           hedging words per 100 words ("might", "perhaps", "I think", "it depends" ...)
``questions``         number of question marks (asks the user back)
``prompt_overlap``    share of the prompt's distinct content words (>= 4 letters) that occur in the response
                      (case-insensitive substring match)
``answers_question``  the same share within the response's first 300 characters (about 50 words): a proxy
                      for "addresses the question up front" (0 when there is no prompt)
``flesch``            Flesch reading ease, 206.835 - 1.015 words/sentence - 84.6 syllables/word, with
                      syllables approximated by vowel groups
====================  ==================================================================================

User-supplied columns become a table with :func:`user_properties`. Judge-tagged properties go through the
:class:`Tagger` protocol (any object with ``complete(prompts) -> completions``, e.g. an LLM judge backend)
with the Preference Dissection property prompts, read at run time from a directory the user gives
(:func:`load_property_prompts`; the prompts are CC BY-NC and are not shipped with prefkit).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from prefkit.errors import InputError, ValidationError

ALL_COMPUTED: tuple[str, ...] = (
    "length_words",
    "length_chars",
    "list_density",
    "header_density",
    "code_blocks",
    "markdown",
    "bold",
    "refusal",
    "hedging",
    "questions",
    "prompt_overlap",
    "answers_question",
    "flesch",
)
DEFAULT_COMPUTED: tuple[str, ...] = tuple(p for p in ALL_COMPUTED if p != "length_chars")

_LIST = r"(?m)^[ \t]*(?:[-*+•]|\d{1,3}[.)])[ \t]+\S"
_HEADER = r"(?m)^[ \t]*#{1,6}[ \t]+\S"
_BOLD = r"\*\*[^*\n]+\*\*|__[^_\n]+__"
_MARKDOWN = (
    r"(?m)\*\*[^*\n]+\*\*|__[^_\n]+__|(?:^|[^*])\*[^*\s][^*\n]*\*|`[^`\n]+`|\[[^\]\n]+\]\([^)\n]+\)"
    r"|^[ \t]*>[ \t]|^[ \t]*\|.*\|[ \t]*$"
)
_REFUSAL = (
    r"(?i)\b(?:i can(?:'|’)?t|i cannot|i can not|i am unable|i'm unable|i’m unable|i won(?:'|’)t|"
    r"i will not|i am not able|i'm not able|i’m not able|as an ai|as a language model|"
    r"i'm sorry, but|i’m sorry, but|i apologi[sz]e, but|not appropriate for me)"
)
_HEDGE = (
    r"(?i)\b(?:might|may|maybe|perhaps|possibly|probably|likely|unlikely|it depends|i think|i believe|"
    r"not sure|generally|typically|usually|could be|seems?|appears?)\b"
)
_SENTENCE = r"[.!?]+(?:\s|$)"
_CONTENT_WORD = re.compile(r"[a-z]{4,}")
_HEAD_CHARS = 300


@dataclass(frozen=True, eq=False)
class PropertyTable:
    """``values[i, k]``: property ``names[k]`` of text ``i`` (float; ``nan`` where unknown)."""

    names: tuple[str, ...]
    values: np.ndarray

    def __post_init__(self) -> None:
        if self.values.ndim != 2 or self.values.shape[1] != len(self.names):
            raise ValidationError(
                f"values: expected a (texts x {len(self.names)}) matrix, got shape {self.values.shape}"
            )

    def __len__(self) -> int:
        return int(self.values.shape[0])

    def select(self, names: Sequence[str]) -> PropertyTable:
        unknown = [n for n in names if n not in self.names]
        if unknown:
            raise ValidationError(f"unknown properties {unknown}; available: {', '.join(self.names)}")
        idx = [self.names.index(n) for n in names]
        return PropertyTable(tuple(names), self.values[:, idx])

    def hstack(self, other: PropertyTable) -> PropertyTable:
        clash = set(self.names) & set(other.names)
        if clash:
            raise ValidationError(f"property names appear twice: {sorted(clash)}; rename one column")
        if len(self) != len(other):
            raise ValidationError("property tables must describe the same texts (lengths differ)")
        return PropertyTable(self.names + other.names, np.hstack([self.values, other.values]))


def _as_strings(texts: Sequence[str | None] | pa.Array, what: str) -> pa.Array:
    arr = texts if isinstance(texts, pa.Array) else pa.array(list(texts), type=pa.string())
    n_null = arr.null_count
    if n_null:
        first = int(np.flatnonzero(np.asarray(arr.is_null()))[0])
        raise ValidationError(
            f"{what}: {n_null} missing text(s) (first at position {first}); text properties need every "
            "response text: supply the texts or use --properties with user columns instead"
        )
    return arr


def _count(arr: pa.Array, pattern: str) -> np.ndarray:
    return np.asarray(pc.count_substring_regex(arr, pattern), dtype=np.float64)


def _runs(arr: pa.Array, chars: bytes, *, invert: bool = False) -> np.ndarray:
    """Per text, the number of maximal runs of bytes in ``chars`` (or not in it): vectorised over the buffer."""
    off_dtype = np.int64 if pa.types.is_large_string(arr.type) else np.int32
    bufs = arr.buffers()
    offs = np.frombuffer(bufs[1], dtype=off_dtype)[arr.offset : arr.offset + len(arr) + 1].astype(np.int64)
    lo, hi = int(offs[0]), int(offs[-1])
    data = np.frombuffer(bufs[2], dtype=np.uint8)[lo:hi] if bufs[2] is not None else np.zeros(0, np.uint8)
    lut = np.zeros(256, dtype=bool)
    lut[list(chars)] = True
    if invert:
        lut = ~lut
    mask = lut[data]
    start = mask.copy()
    start[1:] &= ~mask[:-1]
    rel = offs - lo
    first = rel[:-1][rel[1:] > rel[:-1]]
    start[first] = mask[first]  # a run never continues across two texts
    starts = np.flatnonzero(start)
    return np.diff(np.searchsorted(starts, rel)).astype(np.float64)


def _content_words(text: str) -> set[str]:
    return set(_CONTENT_WORD.findall(text.lower()))


def _overlaps(prompts: Sequence[str | None] | None, texts: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Share of each prompt's content words found in the whole response and in its first characters."""
    full = np.zeros(len(texts), dtype=np.float64)
    head = np.zeros(len(texts), dtype=np.float64)
    if prompts is None:
        return full, head
    cache: dict[str, list[str]] = {}
    lowered = pc.utf8_lower(texts).to_pylist()
    for i, (p, low) in enumerate(zip(prompts, lowered, strict=True)):
        if not p:
            continue
        pw = cache.get(p)
        if pw is None:
            pw = cache[p] = sorted(_content_words(p))
        if not pw:
            continue
        start = low[:_HEAD_CHARS]
        full[i] = sum(w in low for w in pw) / len(pw)
        head[i] = sum(w in start for w in pw) / len(pw)
    return full, head


def computed_properties(
    texts: Sequence[str | None] | pa.Array,
    prompts: Sequence[str | None] | None = None,
    names: Sequence[str] = DEFAULT_COMPUTED,
) -> PropertyTable:
    """The computed properties ``names`` (see the module table) of every text.

    ``prompts[i]`` is the prompt that text ``i`` answers (needed by ``prompt_overlap`` and
    ``answers_question``; both are 0 without it). A missing text raises :class:`ValidationError`.
    """
    unknown = [n for n in names if n not in ALL_COMPUTED]
    if unknown:
        raise ValidationError(f"unknown computed properties {unknown}; choose from {', '.join(ALL_COMPUTED)}")
    arr = _as_strings(texts, "texts")
    if prompts is not None and len(prompts) != len(arr):
        raise ValidationError(f"prompts: expected {len(arr)} entries (one per text), got {len(prompts)}")
    words = _runs(arr, b" \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f", invert=True)
    safe_words = np.maximum(words, 1.0)
    lines = _count(arr, r"\n") + 1.0
    cols: dict[str, np.ndarray] = {}
    if "prompt_overlap" in names or "answers_question" in names:
        cols["prompt_overlap"], cols["answers_question"] = _overlaps(prompts, arr)
    for n in names:
        if n == "length_words":
            cols[n] = words
        elif n == "length_chars":
            cols[n] = np.asarray(pc.utf8_length(arr), dtype=np.float64)
        elif n == "list_density":
            cols[n] = _count(arr, _LIST) / lines
        elif n == "header_density":
            cols[n] = _count(arr, _HEADER) / lines
        elif n == "code_blocks":
            cols[n] = np.floor(_count(arr, r"```") / 2.0)
        elif n == "markdown":
            cols[n] = _count(arr, _MARKDOWN)
        elif n == "bold":
            cols[n] = _count(arr, _BOLD)
        elif n == "refusal":
            cols[n] = (_count(arr, _REFUSAL) > 0).astype(np.float64)
        elif n == "hedging":
            cols[n] = 100.0 * _count(arr, _HEDGE) / safe_words
        elif n == "questions":
            cols[n] = _count(arr, r"\?")
        elif n == "flesch":
            sentences = np.maximum(_count(arr, _SENTENCE), 1.0)
            syllables = _runs(pc.utf8_lower(arr), b"aeiouy")
            fl = 206.835 - 1.015 * (words / sentences) - 84.6 * (syllables / safe_words)
            cols[n] = np.where(words > 0, fl, 0.0)
    return PropertyTable(
        tuple(names), np.column_stack([cols[n] for n in names]) if names else np.zeros((len(arr), 0))
    )


def user_properties(columns: Mapping[str, Sequence[float] | np.ndarray]) -> PropertyTable:
    """A table of user-supplied numeric columns (all of one length; ``nan`` is not allowed)."""
    if not columns:
        raise ValidationError("columns: give at least one property column")
    names = tuple(columns)
    try:
        mats = [np.asarray(columns[n], dtype=np.float64).reshape(-1) for n in names]
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"columns: every property column must be numeric ({exc})") from None
    if len({len(m) for m in mats}) > 1:
        raise ValidationError("columns: every property column must have one value per text")
    for n, m in zip(names, mats, strict=True):
        if not np.all(np.isfinite(m)):
            raise ValidationError(f"column {n!r}: {int((~np.isfinite(m)).sum())} missing or infinite values")
    return PropertyTable(names, np.column_stack(mats))


# -- judge-tagged properties ------------------------------------------------------------------------


@runtime_checkable
class Tagger(Protocol):
    """Anything that answers a batch of rendered prompts with one completion each (an LLM judge)."""

    def complete(self, prompts: Sequence[str]) -> Sequence[str]: ...


@dataclass(frozen=True)
class PropertyPrompts:
    """The pairwise tagging template and the characteristics (name -> description) it rates 0-3."""

    template: str
    characteristics: dict[str, str]


def load_property_prompts(
    directory: str | Path,
    template_file: str = "query-free_pairwise.yaml",
    characteristics_file: str = "query_free_characteristics.yaml",
) -> PropertyPrompts:
    """Read the Preference Dissection prompts (``template`` + ``characteristics``) from ``directory``."""
    from prefkit._optional import require

    yaml = require("yaml", "explain")
    d = Path(directory)
    out: list[dict] = []
    for fname in (template_file, characteristics_file):
        p = d / fname
        if not p.is_file():
            raise InputError(
                "property prompt file not found; point to the preference_dissection/prompts directory", path=p
            )
        try:
            doc = yaml.safe_load(p.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            raise InputError(
                f"not valid YAML ({exc})", path=p, line=mark.line + 1 if mark else None
            ) from None
        if not isinstance(doc, dict):
            raise InputError("expected a YAML mapping", path=p, line=1)
        out.append(doc)
    tpl = out[0].get("template")
    if not isinstance(tpl, str) or "{response_1}" not in tpl or "{response_2}" not in tpl:
        raise InputError("no 'template' with {response_1} and {response_2}", path=d / template_file, line=1)
    chars = {}
    for name, v in out[1].items():
        desc = v.get("content") if isinstance(v, dict) else v
        if not isinstance(desc, str):
            raise InputError(f"characteristic {name!r} has no 'content' text", path=d / characteristics_file)
        chars[str(name)] = desc.strip()
    return PropertyPrompts(tpl, chars)


def render_tagging_prompt(
    prompts: PropertyPrompts, prompt: str, response_1: str, response_2: str, names: Sequence[str]
) -> str:
    """The template with the two responses and the named characteristics filled in (``{`` elsewhere kept)."""
    chars = "\n".join(f"{n}: {prompts.characteristics[n]}" for n in names)
    return (
        prompts.template.replace("{prompt}", prompt)
        .replace("{characteristics}", chars)
        .replace("{response_1}", response_1)
        .replace("{response_2}", response_2)
    )


_JSON_OBJ = re.compile(r"\{.*\}", re.S)


def parse_tagging_reply(reply: str, names: Sequence[str]) -> np.ndarray:
    """``(len(names), 2)`` ratings of response 1 and 2 from a JSON reply; ``nan`` where absent or unreadable."""
    out = np.full((len(names), 2), np.nan)
    m = _JSON_OBJ.search(reply or "")
    if not m:
        return out
    try:
        doc = json.loads(re.sub(r",\s*}", "}", m.group(0)))
    except json.JSONDecodeError:
        return out
    if not isinstance(doc, dict):
        return out
    lower = {str(k).strip().lower(): v for k, v in doc.items()}
    for k, n in enumerate(names):
        v = lower.get(n.lower())
        if isinstance(v, dict):
            for j, key in enumerate(("response 1", "response 2")):
                try:
                    x = float(str(v.get(key, "nan")).strip())
                except ValueError:
                    continue
                if 0.0 <= x <= 3.0:
                    out[k, j] = x
    return out


@dataclass(frozen=True, eq=False)
class JudgeTags:
    """Judge-tagged properties of both sides of each pair, and how many replies could not be read."""

    a: PropertyTable
    b: PropertyTable
    n_unreadable: int


def judge_properties(
    tagger: Tagger,
    prompts: PropertyPrompts,
    contexts: Sequence[str],
    texts_a: Sequence[str],
    texts_b: Sequence[str],
    names: Sequence[str] | None = None,
    *,
    batch_size: int = 16,
    progress: Callable[[int], object] | None = None,
) -> JudgeTags:
    """Tag each pair ``(texts_a[i], texts_b[i])`` with the characteristics ``names`` (default: all) via ``tagger``.

    A reply that cannot be read gives ``nan`` for that pair (counted in ``n_unreadable``); the dissection
    drops pairs with ``nan`` properties.
    """
    if not isinstance(tagger, Tagger):
        raise ValidationError("tagger: expected an object with complete(prompts) -> list of completions")
    names = list(prompts.characteristics) if names is None else list(names)
    unknown = [n for n in names if n not in prompts.characteristics]
    if unknown:
        raise ValidationError(
            f"unknown characteristics {unknown}; the prompts define: {', '.join(prompts.characteristics)}"
        )
    n = len(texts_a)
    if not (len(texts_b) == len(contexts) == n):
        raise ValidationError("contexts, texts_a, texts_b: must have one entry per pair")
    if batch_size < 1:
        raise ValidationError(f"batch_size must be >= 1, got {batch_size}")
    ratings = np.full((n, len(names), 2), np.nan)
    bad = 0
    for lo in range(0, n, batch_size):
        hi = min(n, lo + batch_size)
        batch = [
            render_tagging_prompt(prompts, contexts[i] or "", texts_a[i], texts_b[i], names)
            for i in range(lo, hi)
        ]
        replies = list(tagger.complete(batch))
        if len(replies) != len(batch):
            raise ValidationError(f"tagger returned {len(replies)} completions for {len(batch)} prompts")
        for j, r in enumerate(replies):
            ratings[lo + j] = parse_tagging_reply(r, names)
            bad += int(np.isnan(ratings[lo + j]).all())
        if progress is not None:
            progress(hi - lo)
    tn = tuple(names)
    return JudgeTags(PropertyTable(tn, ratings[:, :, 0]), PropertyTable(tn, ratings[:, :, 1]), bad)
