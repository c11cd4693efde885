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
import posixpath
import re
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from prefkit.errors import InputError, ValidationError

if TYPE_CHECKING:
    from prefkit.service.records import Answer, Task

SHAPES = ("pairwise", "ranking", "rating")
MEDIA_KINDS = ("image", "audio", "video")
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_URL = re.compile(r"^https?://[^\s\"'<>\\]+$")
_STATIC_PATH = re.compile(r"^/static/[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$")
MEDIA_ROOT = "/static/"
MAX_TEXT = 100_000
MAX_DEPTH = 64
"""How deeply a line of an uploaded file may nest (deeper lines are refused, not a stack overflow)."""


class AnswerInvalid(ValidationError):
    """An answer that is well-formed JSON but not an answer to this task (HTTP 422)."""


def media_path(url: str) -> str | None:
    """``url`` if it is a local media path under ``/static/`` that stays there once normalised (no ``..``, no
    ``//``, no escapes), else None: ``/static/../logout`` is refused."""
    if not _STATIC_PATH.match(url):
        return None
    norm = posixpath.normpath(url)
    if (
        norm != url
        or not norm.startswith(MEDIA_ROOT)
        or any(p in ("", ".", "..") for p in url[1:].split("/"))
    ):
        return None
    return url


def media_url_ok(url: str, origins: tuple[str, ...] = ()) -> bool:
    """A campaign file's media URL: a normalised path under ``/static/``, or an http(s) URL on one of the
    ``origins`` the operator allowed (the pages' Content-Security-Policy loads media from nowhere else)."""
    from prefkit.service.render import allowed_media

    return bool(_URL.match(url) or url.startswith("/")) and allowed_media(url, origins)


def decode_upload(data: bytes | str, source: str) -> str:
    """The text of an uploaded file: UTF-8 (a BOM is dropped) or UTF-16 with its BOM; anything else is an
    ``InputError`` naming the line of the first bad byte."""
    if isinstance(data, str):
        return data
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            raise InputError("not valid UTF-16 text: save the file as UTF-8", path=source) from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InputError(
            f"not UTF-8 text (byte 0x{data[exc.start]:02x}): save the file as UTF-8", path=source, line=line
        ) from None


def load_json_line(line: str) -> Any:
    """``json.loads`` of one line, refusing nesting deeper than :data:`MAX_DEPTH` before parsing."""
    depth = 0
    deepest = 0
    in_str = False
    esc = False
    for ch in line:
        if in_str:
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
            if deepest > MAX_DEPTH:
                raise ValueError(f"nested deeper than {MAX_DEPTH} levels")
        elif ch in "]}":
            depth -= 1
    return json.loads(line)


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
    gold: dict[str, Any] | None = None
    check: str = "gold"


@dataclass(frozen=True)
class NewTask:
    """A task to store: the context (id and content) and the candidates it asks about, in task order; with
    the row's known answer (``gold``, a gold or attention ``check``: :mod:`prefkit.service.lead`)."""

    context_id: str
    context: dict[str, str]
    candidates: list[dict[str, str]]
    gold: dict[str, Any] | None = None
    check: str = "gold"


def check_slug(slug: str) -> str:
    if not _SLUG.match(slug):
        raise ValidationError(f"slug: {slug!r} must be lowercase letters, digits and '-', 1-63 characters")
    return slug


def _media(obj: dict[str, Any], where: str, origins: tuple[str, ...] = ()) -> dict[str, str]:
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
        if not isinstance(url, str) or not media_url_ok(url, origins):
            raise InputError(
                f"{where}: {k} must be a path under /static/ (no '..') or an http(s) URL on an allowed media "
                f"origin (PREFKIT_MEDIA_ORIGINS / Settings.media_origins), got {str(url)[:80]!r}"
            )
        out[k] = url
    return out


def parse_rows(
    data: bytes | str, source: str = "<upload>", origins: tuple[str, ...] = ()
) -> list[CampaignRow]:
    """Read the JSONL campaign file into validated rows (``InputError`` FILE:LINE)."""
    text = decode_upload(data, source)
    rows: list[CampaignRow] = []
    seen: set[str] = set()
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rec = load_json_line(line)
        except json.JSONDecodeError as exc:
            raise InputError(
                f"not valid JSON ({exc.msg}); each line must be one JSON object", path=source, line=lineno
            ) from None
        except (ValueError, RecursionError) as exc:
            raise InputError(f"not a usable JSON object ({exc})", path=source, line=lineno) from None
        try:
            rows.append(_parse_row(rec, len(rows), seen, origins))
        except InputError as exc:
            raise exc.at(source, lineno) from None
    if not rows:
        raise InputError("no rows: the file must hold one JSON object per line", path=source)
    return rows


def _parse_row(rec: Any, index: int, seen: set[str], origins: tuple[str, ...] = ()) -> CampaignRow:
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
        origins,
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
        m = _media(c, f"candidate {cid}", origins)
        if not m:
            raise InputError(f"candidate {cid}: needs 'text' or one of image/audio/video")
        out.append({"id": cid, **m})
    from prefkit.service.lead import parse_gold

    gold, check = parse_gold(rec, [c["id"] for c in out])
    return CampaignRow(id=rid, context=context, candidates=out, gold=gold, check=check)


def build_tasks(rows: list[CampaignRow], shape: str) -> list[NewTask]:
    """The tasks of a campaign file: every pair of a line's candidates for pairwise, the whole line otherwise."""
    tasks = []
    for r in rows:
        if shape == "pairwise":
            for a, b in itertools.combinations(r.candidates, 2):
                tasks.append(NewTask(r.id, r.context, [a, b], r.gold, r.check))
        else:
            tasks.append(NewTask(r.id, r.context, r.candidates, r.gold, r.check))
    return tasks


def canonical_answer(
    cfg: CampaignConfig, n_candidates: int, raw: dict[str, Any], rationale: str | None
) -> dict[str, Any]:
    """Validate one answer (candidate indices in the task's own order) and return its canonical form.

    ``raw`` maps each criterion (attribute for ratings) to: pairwise ``{"winner": 0|1|"tie", "strength": 1-3}``;
    ranking ``{"order": [best, ..., worst]}``; rating ``{"scores": [score per candidate]}``.
    """
    if cfg.rationale_required and not (rationale or "").strip():
        raise AnswerInvalid("rationale: this campaign requires a short rationale for every answer")
    if rationale is not None and (not isinstance(rationale, str) or len(rationale) > 5000):
        raise AnswerInvalid("rationale: a text of at most 5000 characters")
    names = cfg.attributes if cfg.shape == "rating" else cfg.criteria
    if not isinstance(raw, dict) or set(raw) != set(names):
        raise AnswerInvalid(f"answer: give exactly the criteria {names}")
    out: dict[str, Any] = {}
    for name in names:
        v = raw[name]
        if not isinstance(v, dict):
            raise AnswerInvalid(f"answer[{name!r}]: expected an object")
        if cfg.shape == "pairwise":
            w = v.get("winner")
            if w == "tie" and not cfg.allow_tie:
                raise AnswerInvalid(f"answer[{name!r}]: this campaign does not allow ties")
            if not (w == "tie" or (type(w) is int and w in (0, 1))):
                raise AnswerInvalid(f"answer[{name!r}].winner: expected 0, 1 or 'tie' (not true/false)")
            s = v.get("strength")
            if s is not None and (not cfg.strength or w == "tie" or type(s) is not int or s not in (1, 2, 3)):
                raise AnswerInvalid(
                    f"answer[{name!r}].strength: 1, 2 or 3, only with a winner in a strength campaign"
                )
            out[name] = {"winner": w, "strength": s}
        elif cfg.shape == "ranking":
            out[name] = {"order": check_order(v.get("order"), n_candidates, cfg.allow_tie, name)}
        else:
            scores = v.get("scores")
            if (
                not isinstance(scores, list)
                or len(scores) != n_candidates
                or any(type(s) is not int or not cfg.scale_min <= s <= cfg.scale_max for s in scores)
            ):
                raise AnswerInvalid(
                    f"answer[{name!r}].scores: {n_candidates} integers in {cfg.scale_min}..{cfg.scale_max}"
                )
            out[name] = {"scores": scores}
    return out


def check_order(order: Any, n: int, allow_tie: bool, name: str = "overall") -> list[int | list[int]]:
    """A ranking answer: candidate indices best first, a tie group as a list (``[[0, 1], 2]``: 0 and 1 tied
    first), each of ``0..n-1`` exactly once; tie groups only when the campaign allows ties. Canonical form:
    groups of one become plain indices, tied indices are sorted."""
    what = f"answer[{name!r}].order"
    if not isinstance(order, list) or not order:
        raise AnswerInvalid(f"{what}: a list of the candidate indices 0..{n - 1}, best first")
    flat: list[int] = []
    out: list[int | list[int]] = []
    for g in order:
        if type(g) is int:
            flat.append(g)
            out.append(g)
        elif isinstance(g, list) and g and all(type(i) is int for i in g):
            if len(g) > 1 and not allow_tie:
                raise AnswerInvalid(f"{what}: this campaign does not allow ties; list each index on its own")
            flat.extend(g)
            out.append(sorted(g) if len(g) > 1 else g[0])
        else:
            raise AnswerInvalid(
                f"{what}: each entry is an index or a list of tied indices, like [[0, 1], 2]; got {str(g)[:40]}"
            )
    if sorted(flat) != list(range(n)):
        raise AnswerInvalid(f"{what}: list each of the indices 0..{n - 1} exactly once, best first")
    return out


def order_groups(order: list[int | list[int]]) -> list[list[int]]:
    """A canonical order as tie groups, best first."""
    return [g if isinstance(g, list) else [g] for g in order]


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
                    "ranking": [
                        [cands[i]["id"] for i in g] if len(g) > 1 else cands[g[0]]["id"]
                        for g in order_groups(v["order"])
                    ],
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
