"""Campaign definitions: the input file, task construction, answer validation and export rows.

Input file (JSONL, one context per line)::

    {"id": "q1", "context": "Explain TCP", "candidates": [{"id": "r1", "text": "..."}, {"id": "r2", "image": "https://..."}]}

``context`` is a string or an object with ``text`` and/or one of ``image``/``audio``/``video``; each candidate
has an ``id`` and ``text`` or one media URL (http(s) or a path under ``/static/``). A pairwise campaign makes one
task per pair of candidates of a line; ranking and rating campaigns make one task per line.
"""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from prefkit.errors import InputError, ValidationError

if TYPE_CHECKING:
    from prefkit.service.records import Answer, Task

SHAPES = ("pairwise", "ranking", "rating")
MEDIA_KINDS = ("image", "audio", "video")
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_URL = re.compile(r"^(https?://[^\s\"'<>]+|/static/[A-Za-z0-9_./-]+)$")
MAX_TEXT = 100_000


@dataclass
class CampaignConfig:
    """What an annotator is asked: shape, criteria, scale, overlap, rationale."""

    shape: str = "pairwise"
    criteria: list[str] = field(default_factory=lambda: ["overall"])
    allow_tie: bool = True
    strength: bool = False
    attributes: list[str] = field(default_factory=lambda: ["quality"])
    scale_min: int = 1
    scale_max: int = 5
    overlap: int = 3
    rationale_required: bool = False

    def validate(self) -> CampaignConfig:
        if self.shape not in SHAPES:
            raise ValidationError(f"shape: expected one of {', '.join(SHAPES)}, got {self.shape!r}")
        names = self.attributes if self.shape == "rating" else self.criteria
        if not names or any(not re.fullmatch(r"[A-Za-z0-9_ -]{1,40}", c) for c in names):
            raise ValidationError("criteria/attributes: give 1+ names of letters, digits, spaces, - or _")
        if len(set(names)) != len(names):
            raise ValidationError("criteria/attributes: names must be distinct")
        if not 1 <= self.overlap <= 100:
            raise ValidationError("overlap: each task is answered by 1 to 100 annotators")
        if not (-100 <= self.scale_min < self.scale_max <= 100) or self.scale_max - self.scale_min > 20:
            raise ValidationError("scale: need scale_min < scale_max, at most 21 points, within -100..100")
        return self

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> CampaignConfig:
        return cls(**json.loads(text))


@dataclass(frozen=True)
class CampaignRow:
    """One validated line of a campaign file: a context and its candidates (``{"id", "text"|media}``)."""

    id: str
    context: dict[str, str]
    candidates: list[dict[str, str]]


@dataclass(frozen=True)
class NewTask:
    """A task to store: the context (id and content) and the candidates it asks about, in task order."""

    context_id: str
    context: dict[str, str]
    candidates: list[dict[str, str]]


def check_slug(slug: str) -> str:
    if not _SLUG.match(slug):
        raise ValidationError(f"slug: {slug!r} must be lowercase letters, digits and '-', 1-63 characters")
    return slug


def _media(obj: dict[str, Any], where: str) -> dict[str, str]:
    out: dict[str, str] = {}
    text = obj.get("text")
    if text is not None:
        if not isinstance(text, str) or len(text) > MAX_TEXT:
            raise InputError(f"{where}: 'text' must be a string of at most {MAX_TEXT} characters")
        out["text"] = text
    kinds = [k for k in MEDIA_KINDS if k in obj]
    if len(kinds) > 1:
        raise InputError(f"{where}: give at most one of image/audio/video")
    for k in kinds:
        url = obj[k]
        if not isinstance(url, str) or not _URL.match(url):
            raise InputError(f"{where}: {k} must be an http(s) URL or a /static/ path, got {str(url)[:80]!r}")
        out[k] = url
    return out


def parse_rows(data: bytes | str, source: str = "<upload>") -> list[CampaignRow]:
    """Read the JSONL campaign file into validated rows (``InputError`` FILE:LINE)."""
    text = data.decode("utf-8", errors="strict") if isinstance(data, bytes) else data
    rows: list[CampaignRow] = []
    seen: set[str] = set()
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(
                f"not valid JSON ({exc.msg}); each line must be one JSON object", path=source, line=lineno
            ) from None
        try:
            rows.append(_parse_row(rec, len(rows), seen))
        except InputError as exc:
            raise exc.at(source, lineno) from None
    if not rows:
        raise InputError("no rows: the file must hold one JSON object per line", path=source)
    return rows


def _parse_row(rec: Any, index: int, seen: set[str]) -> CampaignRow:
    if not isinstance(rec, dict):
        raise InputError("expected a JSON object with 'context' and 'candidates'")
    rid = str(rec.get("id", f"row{index + 1}"))
    if rid in seen:
        raise InputError(f"duplicate id {rid!r}; ids must be unique")
    seen.add(rid)
    ctx = rec.get("context", "")
    context = _media(
        {"text": ctx} if isinstance(ctx, str) else ctx if isinstance(ctx, dict) else {"text": str(ctx)},
        "context",
    )
    cands = rec.get("candidates")
    if not isinstance(cands, list) or len(cands) < 2:
        raise InputError('\'candidates\' must be a list of at least 2 objects like {"id": ..., "text": ...}')
    if len(cands) > 10:
        raise InputError("at most 10 candidates per context")
    out = []
    ids: set[str] = set()
    for j, c in enumerate(cands):
        if isinstance(c, str):
            c = {"text": c}
        if not isinstance(c, dict):
            raise InputError(f"candidate {j + 1}: expected an object or a string")
        cid = str(c.get("id", f"c{j + 1}"))
        if cid in ids:
            raise InputError(f"candidate {j + 1}: duplicate candidate id {cid!r}")
        ids.add(cid)
        m = _media(c, f"candidate {cid}")
        if not m:
            raise InputError(f"candidate {cid}: needs 'text' or one of image/audio/video")
        out.append({"id": cid, **m})
    return CampaignRow(id=rid, context=context, candidates=out)


def build_tasks(rows: list[CampaignRow], shape: str) -> list[NewTask]:
    """The tasks of a campaign file: every pair of a line's candidates for pairwise, the whole line otherwise."""
    tasks = []
    for r in rows:
        if shape == "pairwise":
            for a, b in itertools.combinations(r.candidates, 2):
                tasks.append(NewTask(r.id, r.context, [a, b]))
        else:
            tasks.append(NewTask(r.id, r.context, r.candidates))
    return tasks


def canonical_answer(
    cfg: CampaignConfig, n_candidates: int, raw: dict[str, Any], rationale: str | None
) -> dict[str, Any]:
    """Validate one answer (candidate indices in the task's own order) and return its canonical form.

    ``raw`` maps each criterion (attribute for ratings) to: pairwise ``{"winner": 0|1|"tie", "strength": 1-3}``;
    ranking ``{"order": [best, ..., worst]}``; rating ``{"scores": [score per candidate]}``.
    """
    if cfg.rationale_required and not (rationale or "").strip():
        raise ValidationError("rationale: this campaign requires a short rationale for every answer")
    if rationale is not None and len(rationale) > 5000:
        raise ValidationError("rationale: at most 5000 characters")
    names = cfg.attributes if cfg.shape == "rating" else cfg.criteria
    if not isinstance(raw, dict) or set(raw) != set(names):
        raise ValidationError(f"answer: give exactly the criteria {names}")
    out: dict[str, Any] = {}
    for name in names:
        v = raw[name]
        if not isinstance(v, dict):
            raise ValidationError(f"answer[{name!r}]: expected an object")
        if cfg.shape == "pairwise":
            w = v.get("winner")
            if w == "tie" and not cfg.allow_tie:
                raise ValidationError(f"answer[{name!r}]: this campaign does not allow ties")
            if w not in (0, 1, "tie"):
                raise ValidationError(f"answer[{name!r}].winner: expected 0, 1 or 'tie'")
            s = v.get("strength")
            if s is not None and (not cfg.strength or w == "tie" or s not in (1, 2, 3)):
                raise ValidationError(
                    f"answer[{name!r}].strength: 1, 2 or 3, only with a winner in a strength campaign"
                )
            out[name] = {"winner": w, "strength": s}
        elif cfg.shape == "ranking":
            order = v.get("order")
            if (
                not isinstance(order, list)
                or sorted(order) != list(range(n_candidates))
                or any(type(i) is not int for i in order)
            ):
                raise ValidationError(
                    f"answer[{name!r}].order: a permutation of 0..{n_candidates - 1}, best first"
                )
            out[name] = {"order": order}
        else:
            scores = v.get("scores")
            if (
                not isinstance(scores, list)
                or len(scores) != n_candidates
                or any(type(s) is not int or not cfg.scale_min <= s <= cfg.scale_max for s in scores)
            ):
                raise ValidationError(
                    f"answer[{name!r}].scores: {n_candidates} integers in {cfg.scale_min}..{cfg.scale_max}"
                )
            out[name] = {"scores": scores}
    return out


def export_rows(cfg: CampaignConfig, slug: str, task: Task, ans: Answer) -> list[dict[str, Any]]:
    """The raw-answer-log rows of one answer (one per criterion / attribute; per candidate for ratings)."""
    cands = task.candidates
    base = {
        "campaign": slug,
        "task": task.id,
        "context_id": task.context_id,
        "context": task.context.get("text"),
        "annotator": ans.annotator,
        "annotator_kind": ans.kind,
        "positions": [cands[i]["id"] for i in ans.positions],
        "rationale": ans.rationale,
        "time": ans.time,
    }
    rows = []
    for name, v in ans.answer.items():
        if cfg.shape == "pairwise":
            w = v["winner"]
            outcome = "tie" if w == "tie" else ("a" if w == 0 else "b")
            strength = None if v["strength"] is None else (v["strength"] if w == 0 else -v["strength"])
            rows.append(
                {
                    **base,
                    "type": "pairwise",
                    "criterion": name,
                    "a": cands[0]["id"],
                    "b": cands[1]["id"],
                    "outcome": outcome,
                    "strength": strength,
                }
            )
        elif cfg.shape == "ranking":
            rows.append(
                {
                    **base,
                    "type": "ranking",
                    "criterion": name,
                    "ranking": [cands[i]["id"] for i in v["order"]],
                }
            )
        else:
            for c, s in zip(cands, v["scores"], strict=True):
                rows.append(
                    {
                        **base,
                        "type": "rating",
                        "attribute": name,
                        "item": c["id"],
                        "score": s,
                        "scale": [cfg.scale_min, cfg.scale_max],
                    }
                )
    return rows
