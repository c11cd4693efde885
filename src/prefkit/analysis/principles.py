"""Inverse Constitutional AI: mine the principles that explain a set of pairwise verdicts.

The steps follow rdnfn/icai (PyPI ``inverse-cai``):

1. **propose**: candidate principles ("Select the response that ...") per pair, from a chat model
   (:class:`ChatModel`, the proposal prompt of :func:`render_proposal_prompt`) or, offline, from a pool
   (prefkit's property list :data:`PROPERTY_POOL`, Preference Dissection's 29 properties
   :data:`DISSECTION_POOL`, or the user's own list);
2. **cluster**: embed the candidates (:class:`TextEncoder`), k-means them, keep the candidate closest to each
   centroid;
3. **vote**: each kept principle on every pair: does it pick the preferred response, the other one, or
   neither (a :class:`Voter`: :class:`ChatVoter` asks a chat model with ICAI's voting prompt;
   :class:`EmbeddingVoter` compares the principle's embedding with each response's; :class:`ScoreVoter`
   takes any per-principle score function, e.g. a reward head);
4. **filter**: keep principles relevant (not "neither") on at least ``min_relevance`` of the pairs and
   accurate (pick the preferred one) on at least ``min_accuracy`` of the pairs where they apply; order by
   net support (for - against) and keep ``max_principles``;
5. **reconstruct**, on pairs held out from mining, two ways:

   * ICAI's (:func:`reconstruct_by_judge`): a :class:`ConstitutionJudge` that reads *only the constitution*
     predicts each held-out verdict; the baseline is the same judge with no constitution.
     :class:`ChatConstitutionJudge` asks a chat model (both orders, A/B); prefkit's pair judges (scripted,
     reward, LLM packs) fit through an adapter in the CLI.
   * offline, with no judge (:func:`reconstruct_by_votes`): the constitution's verdict is the majority of its
     principles' votes (ties and pairs where none applies fall back to the voter's verdict for the generic
     principle :data:`BASELINE_PRINCIPLE`, which is also the baseline).

   Either way the accuracy comes with a Wilson interval, next to the baseline's. :func:`cross_validate` holds
   every pair out once (k folds).

Votes are coded per pair as ``+1`` (picks response a), ``-1`` (picks b), ``0`` (neither); preferences as
``0`` (a preferred) or ``1`` (b preferred). Everything here is pure numpy over these codes; the models come in
through the protocols.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from prefkit.errors import InputError, ValidationError

BASELINE_PRINCIPLE = "Select the response that is better overall."

#: prefkit's response properties (see :mod:`prefkit.analysis.properties`) phrased as ICAI principles,
#: both directions, the offline candidate pool.
PROPERTY_POOL: tuple[str, ...] = (
    "Select the response that is longer and more detailed.",
    "Select the response that is shorter and more concise.",
    "Select the response that uses lists or bullet points.",
    "Select the response that uses markdown headers and formatting.",
    "Select the response that includes code.",
    "Select the response that refuses the request.",
    "Select the response that complies with the request instead of refusing.",
    "Select the response that hedges and expresses uncertainty.",
    "Select the response that is confident and direct.",
    "Select the response that asks the user a clarifying question.",
    "Select the response that stays closer to the words of the question.",
    "Select the response that answers the question up front.",
    "Select the response that is easier to read.",
    "Select the response that is more formal.",
    "Select the response that is more casual and friendly.",
    "Select the response that is more humorous.",
    "Select the response that is more factually accurate.",
    "Select the response that is safer and more harmless.",
    "Select the response that is more creative.",
    "Select the response that is more polite.",
)


#: The 29 response properties of Preference Dissection (Li et al. 2024, GAIR-NLP/Preference-Dissection,
#: ``prompts/all_characteristics.yaml``: names only) phrased as ICAI principles: a second offline pool.
DISSECTION_POOL: tuple[str, ...] = tuple(
    f"Select the response that {t}."
    for t in (
        "is harmless",
        "has no grammar, spelling, punctuation or code-switching mistakes",
        "is friendly",
        "is polite",
        "is interactive and asks for relevant information or follow-ups",
        "has an authoritative tone",
        "is funny and humorous",
        "uses metaphors, personification, similes, hyperboles, irony or parallelism",
        "uses complex words and sentence structure",
        "uses direct and explicit supporting materials such as references or statistics",
        "is well formatted",
        "admits limitations or mistakes",
        "tries to persuade the user",
        "provides a step-by-step solution",
        "uses informal expressions",
        "is non-repetitive",
        "is clear and understandable",
        "is relevant to the query",
        "is innovative and novel",
        "contains rich information",
        "has no minor errors",
        "has no moderate errors",
        "has no severe errors",
        "clarifies the user's intent",
        "shows empathy",
        "satisfies the explicit constraints of the query",
        "supports the user's explicit subjective stances",
        "corrects the user's explicit mistakes or biases",
        "is lengthy",
    )
)

#: The offline candidate pools by name (``--preset``).
POOLS: dict[str, tuple[str, ...]] = {
    "properties": PROPERTY_POOL,
    "dissection": DISSECTION_POOL,
    "all": (*PROPERTY_POOL, *DISSECTION_POOL),
}


# ---------------------------------------------------------------------------------------------- protocols
@runtime_checkable
class ChatModel(Protocol):
    """Anything that answers a batch of rendered prompts with one completion each (an LLM backend)."""

    def complete(self, prompts: Sequence[str]) -> Sequence[str]: ...


@runtime_checkable
class TextEncoder(Protocol):
    """Anything that embeds texts as an ``(n, dim)`` array (e.g. prefkit's MiniLM encoder)."""

    def encode(self, texts: Sequence[str], progress: Callable[[int], Any] | None = None) -> np.ndarray: ...


@runtime_checkable
class Voter(Protocol):
    """Votes each principle on each pair: an ``(n_principles, n_pairs)`` int array of +1 (a), -1 (b), 0."""

    def vote(self, principles: Sequence[str], pairs: PairTexts) -> np.ndarray: ...


@runtime_checkable
class ConstitutionJudge(Protocol):
    """Predicts the verdict on each pair from a constitution alone: an ``(n_pairs,)`` int array of +1 (a),
    -1 (b), 0 (no verdict). An empty constitution is the baseline: the same judge with nothing to go by."""

    def predict(self, constitution: Sequence[str], pairs: PairTexts) -> np.ndarray: ...


# ---------------------------------------------------------------------------------------------- data
@dataclass(frozen=True)
class PairTexts:
    """Pairs of responses, columnar: ``prompts[i]`` (may be ""), ``a[i]``, ``b[i]``, ``pref[i]`` in {0 a, 1 b}."""

    prompts: tuple[str, ...]
    a: tuple[str, ...]
    b: tuple[str, ...]
    pref: np.ndarray
    ids: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        n = len(self.a)
        if not (len(self.prompts) == len(self.b) == len(self.pref) == n):
            raise ValidationError("PairTexts: prompts, a, b and pref must have the same length")
        if n and not np.isin(self.pref, (0, 1)).all():
            raise ValidationError("PairTexts: pref must be 0 (a preferred) or 1 (b preferred)")

    def __len__(self) -> int:
        return len(self.a)

    def take(self, idx: np.ndarray) -> PairTexts:
        ids = tuple(self.ids[i] for i in idx) if self.ids else ()
        return PairTexts(
            tuple(self.prompts[i] for i in idx),
            tuple(self.a[i] for i in idx),
            tuple(self.b[i] for i in idx),
            np.asarray(self.pref)[idx],
            ids,
        )


def read_icai_csv(path: str | Path) -> PairTexts:
    """Read ICAI's feedback CSV (``text_a``, ``text_b``, ``preferred_text`` in {text_a, text_b})."""
    import csv

    p = Path(path)
    try:
        with p.open(newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
    except OSError as exc:
        raise InputError(f"{p}: cannot read: {exc}") from None
    prompts, a, b, pref = [], [], [], []
    for line, row in enumerate(rows, start=2):
        if not {"text_a", "text_b", "preferred_text"} <= set(row):
            raise InputError(
                f"{p}:{line}: needs columns text_a, text_b, preferred_text (ICAI's feedback CSV)"
            )
        choice = (row["preferred_text"] or "").strip()
        if choice not in ("text_a", "text_b"):
            raise InputError(f"{p}:{line}: preferred_text is {choice!r}; use text_a or text_b")
        prompts.append("")
        a.append(row["text_a"])
        b.append(row["text_b"])
        pref.append(0 if choice == "text_a" else 1)
    if not a:
        raise InputError(f"{p}: no pairs; give a CSV with text_a, text_b, preferred_text rows")
    return PairTexts(tuple(prompts), tuple(a), tuple(b), np.asarray(pref, dtype=np.int64))


def read_annotated_pairs(path: str | Path) -> PairTexts:
    """Read ICAI's annotated-pairs v2 JSON; the preference is the ``default_annotator``'s.

    Comparisons whose default annotation is not "a" or "b" (ties, missing) are skipped.
    """
    p = Path(path)
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(f"{p}: not readable annotated-pairs JSON: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("comparisons"), list):
        raise InputError(f"{p}: no 'comparisons' list; expected ICAI annotated-pairs v2 JSON")
    meta = doc.get("metadata") or {}
    default = meta.get("default_annotator")
    if not default:
        raise InputError(
            f"{p}: metadata.default_annotator is missing; name the annotator whose verdicts to mine"
        )
    ids, prompts, a, b, pref = [], [], [], [], []
    for k, c in enumerate(doc["comparisons"]):
        try:
            choice = (c.get("annotations", {}).get(default) or {}).get("pref")
            ta, tb = c["response_a"]["text"], c["response_b"]["text"]
        except (AttributeError, KeyError, TypeError):
            raise InputError(
                f"{p}: comparison {k}: needs response_a.text, response_b.text, annotations"
            ) from None
        if choice not in ("a", "b"):
            continue
        ids.append(str(c.get("id", k)))
        prompts.append(str(c.get("prompt") or ""))
        a.append(str(ta))
        b.append(str(tb))
        pref.append(0 if choice == "a" else 1)
    if not a:
        raise InputError(
            f"{p}: no comparison has an 'a' or 'b' verdict from the default annotator {default!r}"
        )
    return PairTexts(tuple(prompts), tuple(a), tuple(b), np.asarray(pref, dtype=np.int64), tuple(ids))


def from_judged_pairs(jp: Any) -> PairTexts:
    """The decisive verdicts (a or b) of a :class:`prefkit.analysis.pairs.JudgedPairs` that carry both texts."""
    src = jp.source or "the data"
    if jp.text_a is None or jp.text_b is None:
        raise InputError(
            f"{src}: the pairs carry no response texts; principles are mined from texts (give TRL / prefkit "
            "JSONL with texts, ICAI's feedback CSV or annotated-pairs JSON)"
        )
    keep = [
        i
        for i in range(len(jp))
        if int(jp.outcome[i]) in (0, 1) and jp.text_a[i] is not None and jp.text_b[i] is not None
    ]
    if not keep:
        raise InputError(f"{src}: no decisive verdict (a or b) on a pair with both texts")
    prompts = jp.prompt or [None] * len(jp)
    return PairTexts(
        tuple(str(prompts[i] or "") for i in keep),
        tuple(str(jp.text_a[i]) for i in keep),
        tuple(str(jp.text_b[i]) for i in keep),
        np.asarray([int(jp.outcome[i]) for i in keep], dtype=np.int64),
    )


def write_annotated_pairs(
    path: str | Path, pairs: PairTexts, principles: Sequence[str], votes: np.ndarray, *, name: str = "prefkit"
) -> None:
    """Write pairs and the principles' votes as ICAI annotated-pairs v2 JSON (principles as annotators)."""
    import hashlib
    from datetime import datetime

    def hid(s: str) -> str:
        return hashlib.sha256(s.encode()).hexdigest()[:8]

    default = hid("preferred_text")
    annotators: dict[str, Any] = {
        default: {
            "name": "preferred_text",
            "description": "Default annotator (the mined verdicts)",
            "type": "unknown",
        }
    }
    pids = [hid(t) for t in principles]
    for pid, text in zip(pids, principles, strict=True):
        annotators[pid] = {"description": text, "type": "principle"}
    comps = []
    for i in range(len(pairs)):
        ann: dict[str, Any] = {default: {"pref": "ab"[int(pairs.pref[i])]}}
        for k, pid in enumerate(pids):
            v = int(votes[k, i])
            ann[pid] = (
                {"pref": "a" if v > 0 else "b"} if v else {"pref": None, "no_pref_reason": "not_applicable"}
            )
        comps.append(
            {
                "id": pairs.ids[i] if pairs.ids else hid(f"{i}:{pairs.a[i]}:{pairs.b[i]}"),
                "prompt": pairs.prompts[i] or None,
                "response_a": {"text": pairs.a[i]},
                "response_b": {"text": pairs.b[i]},
                "annotations": ann,
                "metadata": {"index": str(i)},
            }
        )
    doc = {
        "metadata": {
            "version": "2.0",
            "description": "Annotated pairs dataset with principle annotations (prefkit ICAI)",
            "created_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "dataset_name": name,
            "default_annotator": default,
            "available_metadata_keys_per_comparison": ["index"],
        },
        "annotators": annotators,
        "comparisons": comps,
    }
    Path(path).write_text(json.dumps(doc, indent=2, ensure_ascii=False), encoding="utf-8")


# ---------------------------------------------------------------------------------------------- prompts
def render_proposal_prompt(prompt: str, preferred: str, rejected: str, num: int = 3) -> str:
    """ICAI's proposal step: ask for principles that would explain why ``preferred`` was chosen."""
    return (
        "You are given two responses to a prompt and told which one a human preferred. "
        f"Propose up to {num} general principles that explain the choice, each of the form "
        '"Select the response that ...". Answer with a JSON list of strings only.\n\n'
        f"Prompt: {prompt}\n\nPreferred response:\n{preferred}\n\nRejected response:\n{rejected}\n"
    )


def render_vote_prompt(prompt: str, a: str, b: str, principles: Sequence[str]) -> str:
    """ICAI's voting step: for each numbered principle, which response it selects ("A", "B" or "None")."""
    listing = "\n".join(f"{k}: {t}" for k, t in enumerate(principles))
    return (
        'For each principle below, say which response it selects: "A", "B", or "None" when the principle '
        "does not apply or both are equal. Answer with a JSON object mapping each principle number to its "
        "choice only.\n\n"
        f"Principles:\n{listing}\n\nPrompt: {prompt}\n\nResponse A:\n{a}\n\nResponse B:\n{b}\n"
    )


def render_constitution(constitution: Sequence[str]) -> str:
    """The constitution as the judge reads it: one numbered principle per line."""
    return "\n".join(f"{k}. {t}" for k, t in enumerate(constitution, start=1))


def render_judge_prompt(prompt: str, a: str, b: str, constitution: Sequence[str]) -> str:
    """ICAI's reconstruction step: a judge that reads only ``constitution`` (empty: none, the baseline) says
    which of two responses the annotator preferred, with one letter."""
    if constitution:
        head = (
            "An annotator chose between two responses by following only the principles below (earlier ones "
            "matter more). Which response did the annotator prefer?\n\n"
            f"Principles:\n{render_constitution(constitution)}\n\n"
        )
    else:
        head = "An annotator chose between two responses. Which response did the annotator prefer?\n\n"
    return (
        f"{head}Prompt: {prompt}\n\nResponse A:\n{a}\n\nResponse B:\n{b}\n\n"
        'Answer with the single letter "A" or "B" only.'
    )


def constitution_question(constitution: Sequence[str], prompt: str) -> str:
    """The question a pair judge (its own prompt pack) is shown: the constitution first, then the prompt."""
    if not constitution:
        return prompt
    head = (
        "Judge the two answers only by the following principles (earlier ones matter more):\n"
        f"{render_constitution(constitution)}"
    )
    return f"{head}\n\nQuestion:\n{prompt}" if prompt else head


_LETTER = re.compile(r"(?<![A-Za-z])([AB])(?![A-Za-z])")


def parse_judge_choice(reply: str) -> int:
    """+1 when the reply names response A, -1 for B, 0 when it names neither or both."""
    t = reply.strip().strip("*\"'`.[]() ")
    if t.upper() in ("A", "B"):
        return 1 if t.upper() == "A" else -1
    found = set(_LETTER.findall(reply))
    if len(found) == 1:
        return 1 if found.pop() == "A" else -1
    return 0


_JSON_OBJ = re.compile(r"\{.*\}", re.S)
_JSON_LIST = re.compile(r"\[.*\]", re.S)


def parse_proposals(reply: str) -> list[str]:
    """Principles from a proposal reply: a JSON list, else one per line starting "Select the response"."""
    m = _JSON_LIST.search(reply)
    if m:
        try:
            items = json.loads(m.group(0))
            if isinstance(items, list):
                return [str(s).strip() for s in items if str(s).strip()]
        except json.JSONDecodeError:
            pass
    return [ln.strip(" -*0123456789.\"'") for ln in reply.splitlines() if "select the response" in ln.lower()]


def parse_votes(reply: str, k: int) -> np.ndarray:
    """Votes from a voting reply (JSON object number -> "A"/"B"/"None"); unparsable entries are 0."""
    out = np.zeros(k, dtype=np.int64)
    m = _JSON_OBJ.search(reply)
    if not m:
        return out
    try:
        obj = json.loads(m.group(0))
    except json.JSONDecodeError:
        return out
    if not isinstance(obj, dict):
        return out
    for key, val in obj.items():
        try:
            j = int(key)
        except (TypeError, ValueError):
            continue
        if 0 <= j < k:
            v = str(val).strip().upper()
            out[j] = 1 if v == "A" else -1 if v == "B" else 0
    return out


# ---------------------------------------------------------------------------------------------- voters
class ChatVoter:
    """ICAI's voter: a chat model reads the pair and the principles (``batch`` principles per prompt)."""

    def __init__(self, chat: ChatModel, *, batch: int = 10) -> None:
        self.chat = chat
        self.batch = batch

    def vote(self, principles: Sequence[str], pairs: PairTexts) -> np.ndarray:
        k, n = len(principles), len(pairs)
        out = np.zeros((k, n), dtype=np.int64)
        chunks = [list(range(s, min(s + self.batch, k))) for s in range(0, k, self.batch)]
        prompts, where = [], []
        for i in range(n):
            for ch in chunks:
                prompts.append(
                    render_vote_prompt(pairs.prompts[i], pairs.a[i], pairs.b[i], [principles[j] for j in ch])
                )
                where.append((i, ch))
        replies = list(self.chat.complete(prompts)) if prompts else []
        for (i, ch), reply in zip(where, replies, strict=True):
            out[ch, i] = parse_votes(reply, len(ch))
        return out


class ScoreVoter:
    """Votes from a score function ``score(principles, texts) -> (k, n)``: the higher-scored response, when the
    gap exceeds ``margin`` (else neither). A reward head per principle, or any scorer, fits here."""

    def __init__(
        self, score: Callable[[Sequence[str], Sequence[str]], np.ndarray], *, margin: float = 0.0
    ) -> None:
        self.score = score
        self.margin = margin

    def vote(self, principles: Sequence[str], pairs: PairTexts) -> np.ndarray:
        sa = np.asarray(self.score(principles, pairs.a), dtype=np.float64)
        sb = np.asarray(self.score(principles, pairs.b), dtype=np.float64)
        return votes_from_gap(sa - sb, self.margin)


class ProbabilityVoter:
    """Votes from a pairwise probability ``p_first(prompts, firsts, seconds) -> P(first preferred)`` asked with
    the principle as the prompt (e.g. a reward model trained with prompts): the first when
    ``p > 0.5 + margin``, the second when ``p < 0.5 - margin``, else neither."""

    def __init__(
        self,
        p_first: Callable[[Sequence[str], Sequence[str], Sequence[str]], np.ndarray],
        *,
        margin: float = 0.05,
    ) -> None:
        if not 0.0 <= margin < 0.5:
            raise ValidationError(f"margin must be in [0, 0.5), got {margin}")
        self.p_first = p_first
        self.margin = margin

    def vote(self, principles: Sequence[str], pairs: PairTexts) -> np.ndarray:
        k, n = len(principles), len(pairs)
        if not k or not n:
            return np.zeros((k, n), dtype=np.int64)
        prompts = [t for t in principles for _ in range(n)]
        p = np.asarray(self.p_first(prompts, list(pairs.a) * k, list(pairs.b) * k), dtype=np.float64)
        return votes_from_gap(p.reshape(k, n) - 0.5, self.margin)


def votes_from_gap(gap: np.ndarray, margin: float) -> np.ndarray:
    """+1 where ``gap > margin``, -1 where ``gap < -margin``, else 0."""
    return np.where(gap > margin, 1, np.where(gap < -margin, -1, 0)).astype(np.int64)


class EmbeddingVoter:
    """Offline voter from text embeddings (no LLM).

    A principle *applies* to a pair when its cosine similarity to the closer of the two responses is at
    least ``relevance`` times its highest such similarity over the pairs voted together (so "about a cat"
    applies to the cat stories and not to the ice-cream advice); where it applies, it picks the response
    more similar to it when the similarity gap exceeds ``margin``, else neither.
    """

    def __init__(self, encoder: TextEncoder, *, relevance: float = 0.75, margin: float = 0.0) -> None:
        if not 0.0 <= relevance <= 1.0:
            raise ValidationError(f"relevance must be in [0, 1], got {relevance}")
        self.encoder = encoder
        self.relevance = relevance
        self.margin = margin
        self._cache: dict[str, np.ndarray] = {}

    def _embed(self, texts: Sequence[str]) -> np.ndarray:
        missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
        if missing:
            emb = np.asarray(self.encoder.encode(missing), dtype=np.float64)
            emb /= np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)
            self._cache.update(zip(missing, emb, strict=True))
        return np.stack([self._cache[t] for t in texts])

    def vote(self, principles: Sequence[str], pairs: PairTexts) -> np.ndarray:
        if not len(principles) or not len(pairs):
            return np.zeros((len(principles), len(pairs)), dtype=np.int64)
        p = self._embed(list(principles))
        sa, sb = p @ self._embed(list(pairs.a)).T, p @ self._embed(list(pairs.b)).T
        closer = np.maximum(sa, sb)
        applies = closer >= self.relevance * closer.max(axis=1, keepdims=True)
        return np.where(applies, votes_from_gap(sa - sb, self.margin), 0).astype(np.int64)


# ---------------------------------------------------------------------------------------------- judges
class ChatConstitutionJudge:
    """ICAI's constitution judge on a chat model: :func:`render_judge_prompt`, one letter per pair.

    With ``both_orders`` every pair is also asked with the responses swapped; a verdict stands when the two
    answers agree, otherwise (a judge that follows the position, or an unparsed answer) it is 0 (no verdict).
    """

    def __init__(self, chat: ChatModel, *, both_orders: bool = True) -> None:
        self.chat = chat
        self.both_orders = both_orders

    def predict(self, constitution: Sequence[str], pairs: PairTexts) -> np.ndarray:
        n = len(pairs)
        if not n:
            return np.zeros(0, dtype=np.int64)
        c = list(constitution)
        prompts = [render_judge_prompt(pairs.prompts[i], pairs.a[i], pairs.b[i], c) for i in range(n)]
        if self.both_orders:
            prompts += [render_judge_prompt(pairs.prompts[i], pairs.b[i], pairs.a[i], c) for i in range(n)]
        got = np.asarray([parse_judge_choice(r) for r in self.chat.complete(prompts)], dtype=np.int64)
        if not self.both_orders:
            return got
        first, second = got[:n], -got[n:]
        return np.where(first == second, first, 0).astype(np.int64)


# ---------------------------------------------------------------------------------------------- steps
def propose_per_pair(chat: ChatModel, pairs: PairTexts, *, per_pair: int = 3) -> list[list[str]]:
    """Step 1 with a chat model: the candidate principles proposed from each pair (at most ``per_pair``)."""
    prompts = []
    for i in range(len(pairs)):
        win, lose = (pairs.a[i], pairs.b[i]) if pairs.pref[i] == 0 else (pairs.b[i], pairs.a[i])
        prompts.append(render_proposal_prompt(pairs.prompts[i], win, lose, per_pair))
    return [parse_proposals(reply)[:per_pair] for reply in chat.complete(prompts)] if prompts else []


def propose_principles(chat: ChatModel, pairs: PairTexts, *, per_pair: int = 3) -> list[str]:
    """Step 1 with a chat model: candidate principles from all pairs (deduplicated, first-seen order)."""
    return list(dict.fromkeys(t for ts in propose_per_pair(chat, pairs, per_pair=per_pair) for t in ts))


def cluster_principles(
    candidates: Sequence[str], encoder: TextEncoder, n_clusters: int, *, seed: int = 0
) -> list[str]:
    """Step 2: k-means on the candidates' embeddings (k-means++ seeding); the candidate nearest each
    centroid represents its cluster. Clusters come out in order of size (largest first)."""
    cands = list(dict.fromkeys(candidates))
    if not cands:
        raise ValidationError("no candidate principles to cluster; give a pool or a proposing model")
    if len(cands) <= n_clusters:
        return cands
    from scipy.cluster.vq import kmeans2

    x = np.asarray(encoder.encode(cands), dtype=np.float64)
    x /= np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    centroids, labels = kmeans2(x, n_clusters, minit="++", seed=np.random.default_rng(seed))
    reps = []
    for c in np.argsort(-np.bincount(labels, minlength=n_clusters), kind="stable"):
        members = np.flatnonzero(labels == c)
        if members.size:
            d = np.linalg.norm(x[members] - centroids[c], axis=1)
            reps.append((members.size, cands[int(members[np.argmin(d)])]))
    return [t for _, t in reps]


@dataclass(frozen=True)
class PrincipleStats:
    """Per-principle vote counts over pairs: for (picks the preferred), against, neither."""

    text: str
    n_for: int
    n_against: int
    n_pairs: int

    @property
    def relevance(self) -> float:
        return (self.n_for + self.n_against) / self.n_pairs if self.n_pairs else 0.0

    @property
    def accuracy(self) -> float:
        r = self.n_for + self.n_against
        return self.n_for / r if r else 0.0

    @property
    def support(self) -> int:
        return self.n_for - self.n_against


def agreement(votes: np.ndarray, pref: np.ndarray) -> np.ndarray:
    """``(k, n)``: +1 where a vote picks the preferred response, -1 the other, 0 neither."""
    sign = np.where(np.asarray(pref) == 0, 1, -1)
    return np.asarray(votes) * sign[None, :]


def principle_stats(principles: Sequence[str], votes: np.ndarray, pref: np.ndarray) -> list[PrincipleStats]:
    agr = agreement(votes, pref)
    n = agr.shape[1]
    return [
        PrincipleStats(t, int((agr[k] > 0).sum()), int((agr[k] < 0).sum()), n)
        for k, t in enumerate(principles)
    ]


def filter_principles(
    stats: Sequence[PrincipleStats],
    *,
    min_relevance: float = 0.1,
    min_accuracy: float = 0.6,
    max_principles: int = 5,
) -> list[int]:
    """Step 4: indices of the principles kept, ordered by net support (for - against), best first."""
    keep = [k for k, s in enumerate(stats) if s.relevance >= min_relevance and s.accuracy >= min_accuracy]
    keep.sort(key=lambda k: (-stats[k].support, k))
    return keep[:max_principles]


def constitution_verdicts(votes: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    """Step 5: per pair, the sign of the summed votes (+1 a, -1 b); where it is 0, ``fallback``'s vote."""
    s = np.sign(np.asarray(votes).sum(axis=0)) if len(votes) else np.zeros_like(fallback)
    return np.where(s != 0, s, fallback).astype(np.int64)


def verdict_accuracy(verdicts: np.ndarray, pref: np.ndarray) -> float:
    """Share of pairs whose verdict picks the preferred response; an abstention (0) counts one half."""
    agr = np.asarray(verdicts) * np.where(np.asarray(pref) == 0, 1, -1)
    return float(((agr > 0) + 0.5 * (agr == 0)).mean()) if agr.size else float("nan")


def wilson_interval(p: float, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    if n == 0:
        return (float("nan"), float("nan"))
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return (max(0.0, c - h), min(1.0, c + h))


# ---------------------------------------------------------------------------------------------- pipeline
@dataclass(frozen=True)
class Reconstruction:
    """Accuracy of the constitution's verdicts on ``n`` held-out pairs (an abstention counts one half), its
    Wilson 95% interval, and the baseline's accuracy (no constitution). ``method``: "judge" (a judge read
    the constitution) or "votes" (the majority of the principles' votes); ``abstained``: pairs with no verdict."""

    accuracy: float
    lower: float
    upper: float
    n: int
    baseline: float
    method: str = "votes"
    abstained: int = 0

    def to_dict(self) -> dict[str, float | int]:
        return {
            "accuracy": self.accuracy,
            "lower": self.lower,
            "upper": self.upper,
            "n": self.n,
            "baseline": self.baseline,
        }


@dataclass(frozen=True)
class ConstitutionResult:
    principles: list[PrincipleStats]
    reconstruction: Reconstruction
    candidates: list[str] = field(default_factory=list)
    train_idx: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    test_idx: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    def to_dict(self) -> dict[str, Any]:
        return {
            "principles": [
                {"text": s.text, "support": s.support, "accuracy": s.accuracy} for s in self.principles
            ],
            "reconstruction": self.reconstruction.to_dict(),
        }


def _check_reconstruction(constitution: Sequence[str], pairs: PairTexts) -> None:
    if not constitution:
        raise ValidationError(
            "the constitution is empty: no principle passed the filter; lower min_relevance / "
            "min_accuracy or give more candidates"
        )
    if not len(pairs):
        raise ValidationError("no held-out pairs to reconstruct; lower test_fraction or give more pairs")


def _reconstruction(verdicts: np.ndarray, base: np.ndarray, pref: np.ndarray, method: str) -> Reconstruction:
    acc = verdict_accuracy(verdicts, pref)
    lo, hi = wilson_interval(acc, len(pref))
    return Reconstruction(
        acc, lo, hi, len(pref), verdict_accuracy(base, pref), method, int((np.asarray(verdicts) == 0).sum())
    )


def reconstruct_by_judge(
    constitution: Sequence[str], judge: ConstitutionJudge, pairs: PairTexts
) -> Reconstruction:
    """ICAI's reconstruction: ``judge`` reads only the constitution and predicts the verdicts on ``pairs``;
    the baseline is the same judge with no constitution."""
    _check_reconstruction(constitution, pairs)
    with_c = np.asarray(judge.predict(list(constitution), pairs), dtype=np.int64)
    base = np.asarray(judge.predict([], pairs), dtype=np.int64)
    return _reconstruction(with_c, base, pairs.pref, "judge")


def reconstruct_by_votes(
    principles: Sequence[str], voter: Voter, pairs: PairTexts, *, baseline: str = BASELINE_PRINCIPLE
) -> Reconstruction:
    """Offline reconstruction (no judge): the majority of the principles' votes on ``pairs`` (ties: the
    generic ``baseline`` principle's vote), against that generic principle alone."""
    _check_reconstruction(principles, pairs)
    v = voter.vote([*principles, baseline], pairs)
    return _reconstruction(constitution_verdicts(v[:-1], v[-1]), v[-1], pairs.pref, "votes")


def _candidates(pool: Sequence[str] | None, proposed: Sequence[str] = ()) -> list[str]:
    cands = [c.strip() for c in dict.fromkeys([*(pool or []), *proposed]) if c and c.strip()]
    if not cands:
        raise ValidationError(
            "no candidate principles: give a pool (candidates=...) or a proposing chat model"
        )
    return cands


def _select(
    kept: list[str],
    voter: Voter,
    train: PairTexts,
    *,
    min_relevance: float,
    min_accuracy: float,
    max_principles: int,
    strict: bool,
) -> list[PrincipleStats]:
    """Steps 3-4 on ``train``: the constitution (may be empty unless ``strict``)."""
    stats = principle_stats(kept, voter.vote(kept, train), train.pref)
    chosen = filter_principles(
        stats, min_relevance=min_relevance, min_accuracy=min_accuracy, max_principles=max_principles
    )
    if not chosen and strict:
        best = max(stats, key=lambda s: s.relevance)
        raise ValidationError(
            f"the constitution is empty: none of {len(kept)} principles is relevant on >= {min_relevance:.0%} of "
            f"the pairs and accurate on >= {min_accuracy:.0%} (most relevant: {best.text!r}, relevance "
            f"{best.relevance:.0%}, accuracy {best.accuracy:.0%}); lower the thresholds or give other candidates"
        )
    return [stats[k] for k in chosen]


def mine_constitution(
    pairs: PairTexts,
    voter: Voter,
    *,
    candidates: Sequence[str] | None = None,
    proposer: ChatModel | None = None,
    encoder: TextEncoder | None = None,
    judge: ConstitutionJudge | None = None,
    n_clusters: int = 20,
    min_relevance: float = 0.1,
    min_accuracy: float = 0.6,
    max_principles: int = 5,
    test_fraction: float = 0.3,
    seed: int = 0,
) -> ConstitutionResult:
    """The whole ICAI pipeline; mining sees only the training split, reconstruction only the held-out split
    (by ``judge`` when given, else by the principles' votes). ``test_fraction=0`` mines on every pair and
    skips the reconstruction (its accuracy is then NaN, ``n`` 0): what :func:`cross_validate` is for."""
    if len(pairs) < 2:
        raise ValidationError(f"ICAI needs at least 2 pairs, got {len(pairs)}")
    if not 0.0 <= test_fraction < 1.0:
        raise ValidationError(f"test_fraction must be in [0, 1), got {test_fraction}")
    rng = np.random.default_rng(seed)
    perm = rng.permutation(len(pairs))
    n_test = max(1, int(round(test_fraction * len(pairs)))) if test_fraction > 0 else 0
    test_idx, train_idx = np.sort(perm[:n_test]), np.sort(perm[n_test:])
    train = pairs.take(train_idx)
    cands = _candidates(candidates, propose_principles(proposer, train) if proposer is not None else ())
    kept = cluster_principles(cands, encoder, n_clusters, seed=seed) if encoder is not None else cands
    constitution = _select(
        kept, voter, train, min_relevance=min_relevance, min_accuracy=min_accuracy,
        max_principles=max_principles, strict=True,
    )  # fmt: skip
    texts = [s.text for s in constitution]
    if not n_test:
        nan = float("nan")
        rec = Reconstruction(nan, nan, nan, 0, nan, "judge" if judge is not None else "votes")
    elif judge is not None:
        rec = reconstruct_by_judge(texts, judge, pairs.take(test_idx))
    else:
        rec = reconstruct_by_votes(texts, voter, pairs.take(test_idx))
    return ConstitutionResult(constitution, rec, kept, train_idx, test_idx)


@dataclass(frozen=True)
class CrossValidated:
    """Reconstruction pooled over folds: each fold's pairs judged by the constitution mined on the others."""

    reconstruction: Reconstruction
    constitutions: list[list[str]]
    empty_folds: int


def cross_validate(
    pairs: PairTexts,
    voter: Voter,
    *,
    folds: int = 5,
    candidates: Sequence[str] | None = None,
    proposer: ChatModel | None = None,
    encoder: TextEncoder | None = None,
    judge: ConstitutionJudge | None = None,
    n_clusters: int = 20,
    min_relevance: float = 0.1,
    min_accuracy: float = 0.6,
    max_principles: int = 5,
    seed: int = 0,
    baseline: str = BASELINE_PRINCIPLE,
) -> CrossValidated:
    """K-fold reconstruction: every pair is held out once, judged by the constitution mined on the other folds
    (proposals, clustering, voting and filtering see only those). With ``judge`` the judge reads each fold's
    constitution (baseline: the judge with none); without, the principles' votes decide (baseline: the generic
    principle). A fold whose constitution comes out empty is judged by the baseline (counted in ``empty_folds``).
    """
    n = len(pairs)
    if folds < 2 or folds > n:
        raise ValidationError(f"folds must be in [2, {n}] (the number of pairs), got {folds}")
    proposed = propose_per_pair(proposer, pairs) if proposer is not None else [[] for _ in range(n)]
    _candidates(candidates, [t for ts in proposed for t in ts])  # fail early when there is nothing at all
    perm = np.random.default_rng(seed).permutation(n)
    verdicts = np.zeros(n, dtype=np.int64)
    base = np.zeros(n, dtype=np.int64)
    constitutions, empty = [], 0
    for f in range(folds):
        test = np.sort(perm[f::folds])
        train = np.setdiff1d(np.arange(n), test)
        tr, te = pairs.take(train), pairs.take(test)
        cands = _candidates(candidates, [t for i in train for t in proposed[i]])
        kept = cluster_principles(cands, encoder, n_clusters, seed=seed) if encoder is not None else cands
        chosen = [s.text for s in _select(
            kept, voter, tr, min_relevance=min_relevance, min_accuracy=min_accuracy,
            max_principles=max_principles, strict=False,
        )]  # fmt: skip
        empty += not chosen
        constitutions.append(chosen)
        if judge is not None:
            base[test] = judge.predict([], te)
            verdicts[test] = judge.predict(chosen, te) if chosen else base[test]
        else:
            v = voter.vote([*chosen, baseline], te)
            base[test] = v[-1]
            verdicts[test] = constitution_verdicts(v[:-1], v[-1])
    method = "judge" if judge is not None else "votes"
    return CrossValidated(_reconstruction(verdicts, base, pairs.pref, method), constitutions, empty)
