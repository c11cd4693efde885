"""The annotation lead's features (issue 16): gold and attention tasks, per-annotator quality, browsing
answers, pausing / closing / deleting campaigns, guidelines, the review queue, suggestions, arena export and
clearing arena flags. A real SQLite file under the app; every endpoint also gets bad inputs."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from prefkit.analysis.annotation_qc import wilson_interval
from prefkit.service import Settings, create_app
from prefkit.service.demo import ensure_demo

from .conftest import ADMIN, Env

# rows 0-3 ordinary; g1 gold (b best), a1 an attention check (a best)
ROWS: list[dict[str, Any]] = [
    {"id": f"q{i}", "context": f"question {i}", "candidates": [{"id": f"q{i}a", "text": f"A{i}"}, {"id": f"q{i}b", "text": f"B{i}"}]}
    for i in range(4)
] + [
    {"id": "g1", "context": "2 + 2?", "candidates": [{"id": "g1a", "text": "5"}, {"id": "g1b", "text": "4"}],
     "gold": {"overall": ["g1b", "g1a"]}},
    {"id": "a1", "context": "Attention: pick the reply that says BANANA",
     "candidates": [{"id": "a1a", "text": "BANANA"}, {"id": "a1b", "text": "apple"}],
     "gold": {"overall": ["a1a"]}, "check": "attention"},
]  # fmt: skip


@pytest.fixture
def lenv(tmp_path: Path) -> Iterator[Env]:
    app = create_app(
        Settings(
            db_path=tmp_path / "lead.db",
            admin_token=ADMIN,
            synchronous="NORMAL",
            rate_per_s=1000,
            rate_burst=1000,
            undo_s=0,
            discard_min=4,
            discard_flag=0.5,
        )
    )
    info = ensure_demo(app.state.svc)
    with TestClient(app, base_url="http://testserver") as client:
        yield Env(app, client, ADMIN, info.annotator_token)


def _create(env: Env, slug: str = "qc", rows: list[dict[str, Any]] = ROWS, **cfg: Any) -> Any:
    return env.client.post(
        "/api/v1/campaigns", json={"slug": slug, "rows": rows, "overlap": 1, **cfg}, headers=env.h(env.admin)
    )


def _answer_all(env: Env, token: str, slug: str, pick: Any) -> list[dict[str, Any]]:
    seen = []
    while True:
        r = env.client.get(f"/api/v1/campaigns/{slug}/tasks/next", headers=env.h(token))
        if r.status_code == 204:
            return seen
        assert r.status_code == 200, r.text
        task = r.json()
        seen.append(task)
        r = env.client.post(
            "/api/v1/judgments",
            json={
                "campaign": slug,
                "task_id": task["task_id"],
                "answer": pick(task),
                "rationale": f"because {task['context']['text']}",
            },
            headers=env.h(token),
        )
        assert r.status_code == 201, r.text


def _winner(cid: str) -> Any:
    """Pick the candidate whose id ends in ``cid``'s letter (task index order: a is 0, b is 1)."""
    return lambda t: {
        "overall": {"winner": next(c["index"] for c in t["candidates"] if c["id"].endswith(cid))}
    }


def _db(env: Env) -> sqlite3.Connection:
    return sqlite3.connect(env.app.state.svc.settings.db_path)


def test_gold_and_attention_go_to_everyone_and_are_scored(lenv: Env) -> None:
    assert _create(lenv).status_code == 201
    good, bad, third = (lenv.invite(n, ["qc"]) for n in ("good", "bad", "third"))
    seen_good = _answer_all(
        lenv, good, "qc", _winner("b")
    )  # right on gold (b), fails the attention check (a)
    seen_bad = _answer_all(lenv, bad, "qc", _winner("a"))  # wrong on gold, passes the attention check
    seen_third = _answer_all(lenv, third, "qc", _winner("a"))
    # overlap 1: the four ordinary tasks once in all; the two checks to every annotator
    ids = lambda seen: {t["context"]["text"] for t in seen}  # noqa: E731
    assert len(seen_good) == 6 and len(seen_bad) == 2 and len(seen_third) == 2
    assert ids(seen_bad) == ids(seen_third) == {"2 + 2?", "Attention: pick the reply that says BANANA"}
    # every answer took 20 s: the time-outlier flags (measured wall time in a test) stay out of this check
    with _db(lenv) as db:
        db.execute("UPDATE svc_answer_times SET seconds = 20")
    r = lenv.client.get("/api/v1/campaigns/qc/annotators", headers=lenv.h(lenv.admin))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["gold_tasks"] == 1 and body["attention_tasks"] == 1
    by = {a["annotator"]: a for a in body["annotators"]}
    assert (by["good"]["gold_n"], by["good"]["gold_correct"]) == (1, 1)
    assert (by["bad"]["gold_n"], by["bad"]["gold_correct"]) == (1, 0)
    lo, hi = wilson_interval(np.array([0]), np.array([1]))
    assert by["bad"]["gold_lower"] == pytest.approx(lo[0]) and by["bad"]["gold_upper"] == pytest.approx(hi[0])
    assert by["good"]["attention_failed"] == 1 and by["bad"]["attention_failed"] == 0
    assert any("attention" in f for f in by["good"]["flags"]) and not by["third"]["flags"]
    assert by["good"]["done"] == 6 and by["good"]["left"] == 0
    # every answer has a time (from the task being dealt to it being sent)
    with _db(lenv) as db:
        n_times = db.execute("SELECT count(*) FROM svc_answer_times").fetchone()[0]
    assert n_times == 10
    assert by["good"]["median_seconds"] is not None and by["good"]["median_seconds"] >= 0
    # the admin page shows the table
    lenv.client.cookies.set("prefkit_token", lenv.admin)
    page = lenv.client.get("/admin/campaigns/qc", headers={"accept": "text/html"}).text
    assert 'id="annotators"' in page and "failed 1 of 1 attention checks" in page


def test_agreement_per_annotator_by_hand(lenv: Env) -> None:
    rows = ROWS[:3]
    assert _create(lenv, rows=rows, overlap=3).status_code == 201
    picks = {"x": "aab", "y": "aba", "z": "abb"}  # per task q0, q1, q2: the id letter each one picks
    for name, letters in picks.items():
        tok = lenv.invite(name, ["qc"])
        _answer_all(
            lenv, tok, "qc",
            lambda t, s=letters: {"overall": {"winner": next(
                c["index"] for c in t["candidates"] if c["id"] == f"q{t['context']['text'][-1]}{s[int(t['context']['text'][-1])]}"
            )}},
        )  # fmt: skip
    got = {
        a["annotator"]: a["agreement"]
        for a in lenv.client.get("/api/v1/campaigns/qc/annotators", headers=lenv.h(lenv.admin)).json()[
            "annotators"
        ]
    }

    def share(me: str) -> float:  # mean over tasks of the share of the two others that agree
        return float(
            np.mean([sum(picks[o][k] == picks[me][k] for o in picks if o != me) / 2 for k in range(3)])
        )

    for name in picks:
        assert got[name] == pytest.approx(share(name))


def test_time_outliers_flag_the_fast_answers(lenv: Env) -> None:
    rows = [{"id": f"t{i}", "context": f"c{i}", "candidates": ["x", "y"]} for i in range(12)]
    assert _create(lenv, rows=rows).status_code == 201
    tok = lenv.invite("speedy", ["qc"])
    _answer_all(lenv, tok, "qc", lambda t: {"overall": {"winner": 0}})
    # the recorded times, set to known values: ten around 20 s, one 0.2 s, one 900 s
    with _db(lenv) as db:
        ids = [r[0] for r in db.execute("SELECT answer_id FROM svc_answer_times ORDER BY answer_id")]
        secs = [18, 20, 22, 19, 21, 20, 23, 17, 20, 21, 0.2, 900]
        db.executemany(
            "UPDATE svc_answer_times SET seconds = ? WHERE answer_id = ?", list(zip(secs, ids, strict=True))
        )
    a = lenv.client.get("/api/v1/campaigns/qc/annotators", headers=lenv.h(lenv.admin)).json()["annotators"][0]
    assert (a["too_fast"], a["too_slow"]) == (1, 1) and a["median_seconds"] == 20
    r = lenv.client.get("/api/v1/campaigns/qc/answers?flag=too-fast", headers=lenv.h(lenv.admin)).json()
    assert r["total"] == 1 and r["answers"][0]["id"] == ids[10] and r["answers"][0]["seconds"] == 0.2
    # browsing flags exactly the answers the quality report flags
    from prefkit.service.lead import quality

    svc = lenv.app.state.svc
    report = quality(svc, svc.campaign("qc"))
    listed = lenv.client.get("/api/v1/campaigns/qc/answers?limit=500", headers=lenv.h(lenv.admin)).json()
    assert {a["id"]: a["flag"] for a in listed["answers"] if a["flag"]} == report.answer_flags
    assert report.answer_flags == {ids[10]: "too fast", ids[11]: "too slow"}


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"gold": {"overall": ["nope"]}}, "candidate ids"),
        ({"gold": {"overall": ["g1a", "g1a"]}}, "at most once"),
        ({"gold": {"quality": ["g1a"]}}, "not a criterion"),
        ({"gold": {"overall": {"g1a": 1, "g1b": 2}}}, "order of candidate ids"),
        ({"gold": {"overall": ["g1a"]}, "check": "honeypot"}, "'check'"),
        ({"check": "attention"}, "needs a 'gold'"),
        ({"gold": []}, "an object per criterion"),
    ],
)
def test_bad_gold_is_refused_before_anything_is_written(lenv: Env, row: dict[str, Any], message: str) -> None:
    bad = {
        "id": "g1",
        "context": "x",
        "candidates": [{"id": "g1a", "text": "5"}, {"id": "g1b", "text": "4"}],
        **row,
    }
    r = _create(lenv, rows=[*ROWS[:2], bad])
    assert r.status_code == 400 and message in r.json()["error"]["message"], r.text
    assert lenv.client.get("/api/v1/campaigns/qc/annotators", headers=lenv.h(lenv.admin)).status_code == 404
    with _db(lenv) as db:
        assert db.execute("SELECT count(*) FROM svc_campaigns WHERE slug = 'qc'").fetchone()[0] == 0
        assert db.execute("SELECT count(*) FROM svc_gold").fetchone()[0] == 0


def test_ranking_and_rating_gold(lenv: Env) -> None:
    rows = [
        {"id": "r1", "context": "c", "candidates": ["x", "y", "z"], "gold": {"overall": ["c3", ["c1", "c2"]]}}
    ]
    assert _create(lenv, slug="rk", rows=rows, shape="ranking").status_code == 201
    tok = lenv.invite("r", ["rk"])
    _answer_all(lenv, tok, "rk", lambda t: {"overall": {"order": [2, [0, 1]]}})
    a = lenv.client.get("/api/v1/campaigns/rk/annotators", headers=lenv.h(lenv.admin)).json()["annotators"][0]
    assert (a["gold_n"], a["gold_correct"]) == (1, 1)
    # a partial order needs ties: refused in a campaign without ties
    r = _create(
        lenv, slug="rk2", rows=[{**rows[0], "gold": {"overall": ["c3"]}}], shape="ranking", allow_tie=False
    )
    assert r.status_code == 400 and "list every candidate" in r.text
    rows = [{"id": "s1", "context": "c", "candidates": ["x", "y"], "gold": {"quality": {"c1": 5, "c2": 1}}}]
    assert _create(lenv, slug="rt", rows=rows, shape="rating").status_code == 201
    _answer_all(lenv, lenv.invite("s", ["rt"]), "rt", lambda t: {"quality": {"scores": [5, 2]}})
    a = lenv.client.get("/api/v1/campaigns/rt/annotators", headers=lenv.h(lenv.admin)).json()["annotators"][0]
    assert (a["gold_n"], a["gold_correct"]) == (1, 0)
    r = _create(lenv, slug="rt2", rows=[{**rows[0], "gold": {"quality": {"c1": 9, "c2": 1}}}], shape="rating")
    assert r.status_code == 400 and "scores in 1..5" in r.text


def test_pause_close_reopen(lenv: Env) -> None:
    assert _create(lenv).status_code == 201
    tok = lenv.invite("p", ["qc"])
    dealt = lenv.client.get("/api/v1/campaigns/qc/tasks/next", headers=lenv.h(tok)).json()
    r = lenv.client.patch("/api/v1/campaigns/qc", json={"status": "paused"}, headers=lenv.h(lenv.admin))
    assert r.status_code == 200 and r.json()["status"] == "paused"
    r = lenv.client.get("/api/v1/campaigns/qc/tasks/next", headers=lenv.h(tok))
    assert r.status_code == 409 and "paused" in r.json()["error"]["message"]
    # a task dealt before the pause can still be sent: no work is lost
    body = {"campaign": "qc", "task_id": dealt["task_id"], "answer": {"overall": {"winner": 0}}}
    assert lenv.client.post("/api/v1/judgments", json=body, headers=lenv.h(tok)).status_code == 201
    lenv.client.patch("/api/v1/campaigns/qc", json={"status": "closed"}, headers=lenv.h(lenv.admin))
    other = lenv.client.get("/api/v1/campaigns/qc/tasks/next", headers=lenv.h(tok))
    assert other.status_code == 409 and "closed" in other.text
    body["task_id"] += 1
    r = lenv.client.post("/api/v1/judgments", json=body, headers=lenv.h(tok))
    assert r.status_code == 409 and "closed" in r.text
    # the page says so too
    lenv.client.cookies.set("prefkit_token", tok)
    page = lenv.client.get("/c/qc", headers={"accept": "text/html"})
    assert page.status_code == 409 and "closed" in page.text
    lenv.client.cookies.clear()
    # the state survives a restart (stored), and reopening deals again
    app2 = create_app(Settings(db_path=lenv.app.state.svc.settings.db_path, admin_token=ADMIN))
    with TestClient(app2) as c2:
        assert c2.get("/api/v1/campaigns/qc/tasks/next", headers=lenv.h(tok)).status_code == 409
        assert (
            c2.patch("/api/v1/campaigns/qc", json={"status": "open"}, headers=lenv.h(ADMIN)).status_code
            == 200
        )
        assert c2.get("/api/v1/campaigns/qc/tasks/next", headers=lenv.h(tok)).status_code == 200


def test_campaign_patch_bad_inputs(lenv: Env) -> None:
    assert _create(lenv).status_code == 201
    tok = lenv.invite("p", ["qc"])
    h = lenv.h(lenv.admin)
    assert lenv.client.patch("/api/v1/campaigns/qc", json={"status": "bogus"}, headers=h).status_code == 422
    assert lenv.client.patch("/api/v1/campaigns/qc", json={}, headers=h).status_code == 400
    assert (
        lenv.client.patch("/api/v1/campaigns/qc", json={"guidelines": "x" * 100_001}, headers=h).status_code
        == 422
    )
    assert lenv.client.patch("/api/v1/campaigns/nope", json={"status": "open"}, headers=h).status_code == 404
    assert (
        lenv.client.patch("/api/v1/campaigns/qc", json={"status": "closed"}, headers=lenv.h(tok)).status_code
        == 403
    )
    assert (
        lenv.client.get("/api/v1/campaigns/qc/tasks/next", headers=lenv.h(tok)).status_code == 200
    )  # still open


def test_edit_guidelines(lenv: Env) -> None:
    assert _create(lenv, guidelines="old rules").status_code == 201
    tok = lenv.invite("g", ["qc"])
    r = lenv.client.patch(
        "/api/v1/campaigns/qc", json={"guidelines": "**new** rules"}, headers=lenv.h(lenv.admin)
    )
    assert r.status_code == 200
    lenv.client.cookies.set("prefkit_token", tok)
    page = lenv.client.get("/c/qc/guidelines", headers={"accept": "text/html"}).text
    assert "<strong>new</strong> rules" in page and "old rules" not in page


def test_delete_campaign_keeps_its_judgments_in_the_store(lenv: Env) -> None:
    from prefkit.storage.store import ProjectStore

    assert _create(lenv).status_code == 201
    tok = lenv.invite("d", ["qc"])
    _answer_all(lenv, tok, "qc", _winner("a"))
    h = lenv.h(lenv.admin)
    r = lenv.client.delete("/api/v1/campaigns/qc?confirm=wrong", headers=h)
    assert r.status_code == 400 and "confirm" in r.text
    assert lenv.client.get("/api/v1/campaigns/qc/annotators", headers=h).status_code == 200  # still there
    assert lenv.client.delete("/api/v1/campaigns/qc?confirm=qc", headers=lenv.h(tok)).status_code == 403
    assert lenv.client.delete("/api/v1/campaigns/qc?confirm=qc", headers=h).status_code == 204
    assert lenv.client.get("/api/v1/campaigns/qc/annotators", headers=h).status_code == 404
    assert lenv.client.get("/api/v1/campaigns/qc/tasks/next", headers=lenv.h(tok)).status_code == 404
    assert lenv.client.delete("/api/v1/campaigns/qc?confirm=qc", headers=h).status_code == 404
    with ProjectStore(lenv.app.state.svc.settings.db_path, create=False) as store:
        assert store.to_dataset(source="service:campaign/qc").pairwise.__len__() == 6
    with _db(lenv) as db:
        for table in ("svc_tasks", "svc_answers", "svc_gold"):
            assert (
                db.execute(
                    f"SELECT count(*) FROM {table} WHERE campaign_id NOT IN (SELECT id FROM svc_campaigns)"
                ).fetchone()[0]
                == 0
            )
    r = _create(lenv)  # the slug names judgments in the store: not reused
    assert r.status_code == 400 and "deleted" in r.text
    # other campaigns are untouched
    assert (
        lenv.client.get(
            "/api/v1/campaigns/demo-pairwise/tasks/next", headers=lenv.h(lenv.annotator)
        ).status_code
        == 200
    )


def test_review_queue_accept_and_override(lenv: Env) -> None:
    assert _create(lenv, rows=ROWS[:3]).status_code == 201
    ann, rev, other = lenv.invite("ann", ["qc"]), lenv.invite("rev", ["qc"]), lenv.invite("other", ["qc"])
    tokens = {
        t["annotator"]: t["id"] for t in lenv.client.get("/api/v1/tokens", headers=lenv.h(lenv.admin)).json()
    }
    # not a reviewer yet
    assert lenv.client.get("/api/v1/campaigns/qc/reviews/next", headers=lenv.h(rev)).status_code == 403
    h = lenv.h(lenv.admin)
    assert (
        lenv.client.post("/api/v1/campaigns/qc/reviewers", json={"token_id": 10**6}, headers=h).status_code
        == 404
    )
    assert (
        lenv.client.post("/api/v1/campaigns/qc/reviewers", json={"token_id": 0}, headers=h).status_code == 422
    )
    outsider = lenv.invite("outsider", ["demo-pairwise"])
    out_id = next(
        t["id"] for t in lenv.client.get("/api/v1/tokens", headers=h).json() if t["annotator"] == "outsider"
    )
    r = lenv.client.post("/api/v1/campaigns/qc/reviewers", json={"token_id": out_id}, headers=h)
    assert r.status_code == 400 and "no access" in r.text
    assert outsider
    r = lenv.client.post("/api/v1/campaigns/qc/reviewers", json={"token_id": tokens["rev"]}, headers=h)
    assert r.status_code == 204
    assert (
        lenv.client.get("/api/v1/campaigns/qc/reviews/next", headers=lenv.h(rev)).status_code == 204
    )  # none yet
    _answer_all(lenv, ann, "qc", _winner("a"))
    first = lenv.client.get("/api/v1/campaigns/qc/reviews/next", headers=lenv.h(rev)).json()
    assert first["annotator"] == "ann" and first["answer"]["overall"]["winner"] == 0
    # bad decisions
    bad = {"campaign": "qc", "answer_id": first["answer_id"], "decision": "maybe"}
    assert lenv.client.post("/api/v1/reviews", json=bad, headers=lenv.h(rev)).status_code == 422
    bad = {
        "campaign": "qc",
        "answer_id": first["answer_id"],
        "decision": "override",
        "answer": {"overall": {"winner": 7}},
    }
    assert lenv.client.post("/api/v1/reviews", json=bad, headers=lenv.h(rev)).status_code == 422
    assert (
        lenv.client.post(
            "/api/v1/reviews", json={**bad, "answer_id": 999999}, headers=lenv.h(rev)
        ).status_code
        == 404
    )
    r = lenv.client.post(
        "/api/v1/reviews",
        json={"campaign": "qc", "answer_id": first["answer_id"], "decision": "accept"},
        headers=lenv.h(other),
    )
    assert r.status_code == 403  # not a reviewer
    # accept the first, override the second
    ok = {"campaign": "qc", "answer_id": first["answer_id"], "decision": "accept"}
    r = lenv.client.post("/api/v1/reviews", json=ok, headers=lenv.h(rev))
    assert r.status_code == 201 and r.json()["override_id"] is None
    assert lenv.client.post("/api/v1/reviews", json=ok, headers=lenv.h(rev)).status_code == 409  # once
    second = lenv.client.get("/api/v1/campaigns/qc/reviews/next", headers=lenv.h(rev)).json()
    assert second["answer_id"] != first["answer_id"]
    r = lenv.client.post(
        "/api/v1/reviews",
        json={
            "campaign": "qc",
            "answer_id": second["answer_id"],
            "decision": "override",
            "answer": {"overall": {"winner": 1}},
            "rationale": "B is right",
        },
        headers=lenv.h(rev),
    )
    assert r.status_code == 201, r.text
    new_id = r.json()["override_id"]
    with _db(lenv) as db:
        orig = db.execute(
            "SELECT token_id, answer FROM svc_answers WHERE id = ?", (second["answer_id"],)
        ).fetchone()
        new = db.execute(
            "SELECT token_id, answer, rationale FROM svc_answers WHERE id = ?", (new_id,)
        ).fetchone()
    assert orig[0] == tokens["ann"] and json.loads(orig[1])["overall"]["winner"] == 0  # kept
    assert new[0] == tokens["rev"] and json.loads(new[1])["overall"]["winner"] == 1 and new[2] == "B is right"
    # the override reaches the store as the reviewer's judgment; the original stays
    lines = lenv.client.get("/api/v1/campaigns/qc/export?format=answers", headers=h).text.splitlines()
    by = [(json.loads(x)["annotator"], json.loads(x)["outcome"]) for x in lines]
    assert ("rev", "b") in by and by.count(("ann", "a")) == 3
    # the browser shows reviews and overrides
    rows = lenv.client.get("/api/v1/campaigns/qc/answers?review=overrides", headers=h).json()["answers"]
    assert [r["override_of"] for r in rows] == [second["answer_id"]]
    rows = lenv.client.get("/api/v1/campaigns/qc/answers?review=accept", headers=h).json()["answers"]
    assert [r["id"] for r in rows] == [first["answer_id"]]
    qc = {
        a["annotator"]: a
        for a in lenv.client.get("/api/v1/campaigns/qc/annotators", headers=h).json()["annotators"]
    }
    assert (qc["ann"]["reviewed"], qc["ann"]["overridden"]) == (2, 1) and qc["rev"]["done"] == 0
    # the reviewer never gets its own answers nor tasks it answered
    _answer_all(lenv, rev, "qc", _winner("a"))  # nothing left for it (overlap 1)
    third = lenv.client.get("/api/v1/campaigns/qc/reviews/next", headers=lenv.h(rev)).json()
    assert third["annotator"] == "ann"
    r = lenv.client.post(
        "/api/v1/campaigns/qc/reviewers", json={"token_id": tokens["rev"], "reviewer": False}, headers=h
    )
    assert r.status_code == 204
    assert lenv.client.get("/api/v1/campaigns/qc/reviews/next", headers=lenv.h(rev)).status_code == 403


def test_review_page_override_form(lenv: Env) -> None:
    assert _create(lenv, rows=ROWS[:1]).status_code == 201
    ann = lenv.invite("ann", ["qc"])
    _answer_all(lenv, ann, "qc", _winner("a"))
    lenv.client.cookies.set("prefkit_token", lenv.admin)
    page = lenv.client.get("/c/qc/review", headers={"accept": "text/html"})
    assert page.status_code == 200 and "ann answered" in page.text
    import re

    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    aid = re.search(r'name="answer_id" value="(\d+)"', page.text).group(1)  # type: ignore[union-attr]
    hdr = {"accept": "text/html", "origin": "http://testserver"}
    r = lenv.client.post(
        "/c/qc/review", data={"csrf": csrf, "answer_id": aid, "decision": "override"}, headers=hdr
    )
    assert r.status_code == 422 and "choose an answer" in r.text  # the form again, with the message
    r = lenv.client.post(
        "/c/qc/review",
        data={"csrf": csrf, "answer_id": aid, "decision": "override", "c0": "1"},
        headers=hdr,
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert "Nothing waits for review" in lenv.client.get("/c/qc/review", headers={"accept": "text/html"}).text


def test_browse_answers_filters(lenv: Env) -> None:
    assert _create(lenv).status_code == 201
    _answer_all(lenv, lenv.invite("u1", ["qc"]), "qc", _winner("a"))
    _answer_all(lenv, lenv.invite("u2", ["qc"]), "qc", _winner("b"))
    h = lenv.h(lenv.admin)
    get = lambda q: lenv.client.get(f"/api/v1/campaigns/qc/answers?{q}", headers=h)  # noqa: E731
    assert get("").json()["total"] == 8
    assert get("annotator=u2").json()["total"] == 2
    r = get("contains=QUESTION%201").json()
    assert r["total"] == 1 and r["answers"][0]["rationale"] == "because question 1"
    wrong = get("check=wrong").json()["answers"]  # u1 on gold, u2 on the attention check
    assert {(a["annotator"], a["check"]) for a in wrong} == {("u1", "gold"), ("u2", "attention")}
    assert get("check=gold").json()["total"] == 2 and get("check=none").json()["total"] == 4
    page = get("limit=3&offset=6").json()
    assert page["total"] == 8 and len(page["answers"]) == 2
    # pages cut one newest-first listing: together they are the whole of it, each answer once, in order
    whole = [a["id"] for a in get("limit=500").json()["answers"]]
    paged = [a["id"] for off in (0, 3, 6) for a in get(f"limit=3&offset={off}").json()["answers"]]
    assert paged == whole == sorted(whole, reverse=True) and len(whole) == 8
    past = get("limit=3&offset=8").json()
    assert past["total"] == 8 and past["answers"] == []
    for q in ("status=maybe", "flag=slowish", "check=x", "review=y"):
        r = get(q)
        assert r.status_code == 400 and "one of" in r.json()["error"]["message"]
    for q in ("limit=0", "limit=501", "offset=-1", "contains=" + "x" * 201):
        assert get(q).status_code == 422
    assert lenv.client.get("/api/v1/campaigns/qc/answers", headers=lenv.h(lenv.annotator)).status_code == 403
    lenv.client.cookies.set("prefkit_token", lenv.admin)
    page_html = lenv.client.get(
        "/admin/campaigns/qc/answers?annotator=u1", headers={"accept": "text/html"}
    ).text
    assert "because question 0" in page_html and page_html.count("<tr>") == 1 + 6


def test_suggestions_shown_when_enabled(lenv: Env) -> None:
    assert _create(lenv, rows=ROWS[:2]).status_code == 201
    tok = lenv.invite("s", ["qc"])
    task = lenv.client.get("/api/v1/campaigns/qc/tasks/next", headers=lenv.h(tok)).json()
    h = lenv.h(lenv.admin)
    item = {
        "task_id": task["task_id"],
        "answer": {"overall": {"winner": 1}},
        "source": "gpt-judge",
        "rationale": "B cites",
    }
    # all or none: one bad item stores nothing
    r = lenv.client.post(
        "/api/v1/campaigns/qc/suggestions",
        json={"suggestions": [item, {**item, "task_id": 99999}]},
        headers=h,
    )
    assert r.status_code == 404
    r = lenv.client.post(
        "/api/v1/campaigns/qc/suggestions",
        json={"suggestions": [item, {**item, "answer": {"overall": {"winner": 5}}}]},
        headers=h,
    )
    assert r.status_code == 422 and "suggestions[1]" in r.text
    assert (
        lenv.client.post("/api/v1/campaigns/qc/suggestions", json={"suggestions": []}, headers=h).status_code
        == 400
    )
    assert (
        lenv.client.post(
            "/api/v1/campaigns/qc/suggestions", json={"suggestions": [{**item, "source": ""}]}, headers=h
        ).status_code
        == 400
    )
    assert (
        lenv.client.post(
            "/api/v1/campaigns/qc/suggestions", json={"suggestions": [item]}, headers=lenv.h(tok)
        ).status_code
        == 403
    )
    with _db(lenv) as db:
        assert db.execute("SELECT count(*) FROM svc_suggestions").fetchone()[0] == 0
    assert lenv.client.post(
        "/api/v1/campaigns/qc/suggestions", json={"suggestions": [item]}, headers=h
    ).json() == {"stored": 1}
    # off by default
    assert (
        lenv.client.get("/api/v1/campaigns/qc/tasks/next", headers=lenv.h(tok)).json()["suggestion"] is None
    )
    lenv.client.patch("/api/v1/campaigns/qc", json={"suggestions": True}, headers=h)
    got = lenv.client.get("/api/v1/campaigns/qc/tasks/next", headers=lenv.h(tok)).json()["suggestion"]
    assert got == {
        "answer": {"overall": {"winner": 1, "strength": None}},
        "source": "gpt-judge",
        "rationale": "B cites",
    }
    lenv.client.cookies.set("prefkit_token", tok)
    page = lenv.client.get("/c/qc", headers={"accept": "text/html"}).text
    shown = [c["index"] for c in task["candidates"]]
    assert 'id="suggestion"' in page and f"Response {shown.index(1) + 1}" in page and "gpt-judge" in page


def test_judge_suggestions_from_an_annotation_judge(lenv: Env) -> None:
    rows = [
        {
            "id": f"j{i}",
            "context": f"c{i}",
            "candidates": [{"id": f"j{i}good", "text": "g"}, {"id": f"j{i}bad", "text": "b"}],
        }
        for i in range(3)
    ]
    rows[1]["candidates"].reverse()
    assert _create(lenv, rows=rows).status_code == 201
    h = lenv.h(lenv.admin)
    # the scripted judge of prefkit.annotation, always preferring its "own" items (here: the good ones)
    own = "|".join(f"j{i}good" for i in range(3))
    r = lenv.client.post(
        "/api/v1/campaigns/qc/suggestions/judge",
        json={"model": f"scripted:self=1,self_items={own}"},
        headers=h,
    )
    assert r.status_code == 201, r.text
    assert r.json()["stored"] == 3
    with _db(lenv) as db:
        got = dict(
            db.execute(
                "SELECT t.context_id, s.answer FROM svc_suggestions s JOIN svc_tasks t ON t.id = s.task_id"
            ).fetchall()
        )
    assert [json.loads(got[f"j{i}"])["overall"]["winner"] for i in range(3)] == [
        0,
        1,
        0,
    ]  # the good one each time
    bad = lenv.client.post("/api/v1/campaigns/qc/suggestions/judge", json={"model": ""}, headers=h)
    assert bad.status_code == 422
    bad = lenv.client.post(
        "/api/v1/campaigns/qc/suggestions/judge", json={"model": "scripted:position=7"}, headers=h
    )
    assert bad.status_code == 400


def test_tokens_list_and_revoke_through_the_api(lenv: Env) -> None:
    tok = lenv.invite("rv", ["demo-pairwise"])
    h = lenv.h(lenv.admin)
    rows = lenv.client.get("/api/v1/tokens", headers=h).json()
    tid = next(t["id"] for t in rows if t["annotator"] == "rv")
    assert all("secret" not in t and "token" not in t for t in rows)
    assert lenv.client.get("/api/v1/tokens", headers=lenv.h(tok)).status_code == 403
    assert lenv.client.delete(f"/api/v1/tokens/{tid}", headers=h).status_code == 204
    assert (
        lenv.client.get("/api/v1/campaigns/demo-pairwise/tasks/next", headers=lenv.h(tok)).status_code == 401
    )
    assert next(t for t in lenv.client.get("/api/v1/tokens", headers=h).json() if t["id"] == tid)["revoked"]
    assert lenv.client.delete("/api/v1/tokens/99999", headers=h).status_code == 404


def _vote(env: Env, tok: str, slug: str, n: int) -> None:
    for _ in range(n):
        m = env.client.get(f"/api/v1/arenas/{slug}/match", headers=env.h(tok)).json()
        r = env.client.post(
            f"/api/v1/arenas/{slug}/votes",
            json={"match": m["match"], "ranks": list(range(len(m["outputs"])))},
            headers=env.h(tok),
        )
        assert r.status_code == 201, r.text


def test_arena_export_from_the_page(lenv: Env, tmp_path: Path) -> None:
    from prefkit.data import io

    _vote(lenv, lenv.annotator, "demo-kwise", 4)
    _vote(lenv, lenv.annotator, "demo-arena", 5)
    lenv.client.cookies.set("prefkit_token", lenv.admin)
    admin = lenv.client.get("/admin", headers={"accept": "text/html"}).text
    assert "/admin/arenas/demo-kwise/export?format=arena" in admin
    r = lenv.client.get("/admin/arenas/demo-kwise/export?format=jsonl")
    assert r.status_code == 200 and "attachment" in r.headers["content-disposition"]
    (tmp_path / "k.jsonl").write_bytes(r.content)
    ds = io.read(tmp_path / "k.jsonl")
    assert len(ds.rankings) >= 4
    r = lenv.client.get("/admin/arenas/demo-kwise/export?format=arena")
    (tmp_path / "k.arena.jsonl").write_bytes(r.content)
    k = len(
        json.loads(lenv.client.get("/api/v1/arenas/demo-kwise/match", headers=lenv.h(lenv.annotator)).text)[
            "outputs"
        ]
    )
    assert len(io.read(tmp_path / "k.arena.jsonl", format="arena").pairwise) >= 4 * k * (k - 1) // 2
    lenv.client.cookies.clear()
    h = lenv.h(lenv.admin)
    assert lenv.client.get("/api/v1/arenas/demo-arena/export?format=csv", headers=h).status_code == 400
    assert lenv.client.get("/api/v1/arenas/nope/export", headers=h).status_code == 404
    assert (
        lenv.client.get("/api/v1/arenas/demo-arena/export", headers=lenv.h(lenv.annotator)).status_code == 403
    )


def test_admin_clears_a_vote_hygiene_flag(lenv: Env) -> None:
    h = lenv.h(lenv.admin)
    tok = lenv.invite("discarder", arenas=["demo-arena"])
    for _ in range(5):  # discard every match: flagged after discard_min=4 deals
        assert lenv.client.get("/api/v1/arenas/demo-arena/match", headers=lenv.h(tok)).status_code == 200
    tid = next(
        t["id"] for t in lenv.client.get("/api/v1/tokens", headers=h).json() if t["annotator"] == "discarder"
    )
    svc = lenv.app.state.svc
    rt = svc.arenas.runtime(svc.arena("demo-arena"))
    assert rt.hygiene.flagged(tid)
    _vote(lenv, tok, "demo-arena", 2)
    n_counted = len(rt.counted)
    assert (
        lenv.client.delete(f"/api/v1/arenas/demo-arena/flags/{tid}", headers=lenv.h(tok)).status_code == 403
    )
    assert lenv.client.delete(f"/api/v1/arenas/demo-arena/flags/{tid}", headers=h).status_code == 204
    assert not rt.hygiene.flagged(tid) and len(rt.counted) == n_counted + 2  # its votes count again
    assert lenv.client.delete(f"/api/v1/arenas/demo-arena/flags/{tid}", headers=h).status_code == 404
    assert lenv.client.delete("/api/v1/arenas/demo-arena/flags/0", headers=h).status_code == 422
    assert (
        lenv.client.delete("/api/v1/arenas/demo-arena/flags/99999999999999999999", headers=h).status_code
        == 422
    )
    assert lenv.client.delete(f"/api/v1/arenas/nope/flags/{tid}", headers=h).status_code == 404
    with _db(lenv) as db:
        assert db.execute("SELECT count(*) FROM svc_arena_flags").fetchone()[0] == 0


def test_admin_token_is_stored_only_as_a_hash(tmp_path: Path) -> None:
    db = tmp_path / "adm.db"
    app = create_app(Settings(db_path=db))
    token = app.state.svc.admin_token
    assert isinstance(token, str) and len(token) > 20  # created now, shown this once
    with TestClient(app) as c:
        assert c.get("/api/v1/tokens", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    assert token.encode() not in raw  # nowhere in the file (nor its WAL) in plain text
    app2 = create_app(Settings(db_path=db))
    assert app2.state.svc.admin_token is None  # not recoverable from the file
    with TestClient(app2) as c:
        assert c.get("/api/v1/tokens", headers={"Authorization": f"Bearer {token}"}).status_code == 200
        assert c.get("/api/v1/tokens", headers={"Authorization": "Bearer wrong"}).status_code == 401


def test_a_plain_text_admin_token_of_an_older_file_moves_to_its_hash(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    create_app(Settings(db_path=db, admin_token="x" * 30)).state.svc.close()
    with sqlite3.connect(db) as conn:  # what an older prefkit left
        conn.execute("INSERT INTO svc_meta(key, value) VALUES ('admin_token', 'legacy-admin-secret-123')")
        conn.execute("DELETE FROM svc_meta WHERE key = 'admin_token_created'")
    app = create_app(Settings(db_path=db))
    assert app.state.svc.admin_token == "legacy-admin-secret-123"  # shown one last time
    app.state.svc.close()
    with sqlite3.connect(db) as conn:
        assert (
            conn.execute("SELECT count(*) FROM svc_meta WHERE value LIKE '%legacy-admin%'").fetchone()[0] == 0
        )
    app = create_app(Settings(db_path=db))
    assert app.state.svc.admin_token is None
    with TestClient(app) as c:
        h = {"Authorization": "Bearer legacy-admin-secret-123"}
        assert c.get("/api/v1/tokens", headers=h).status_code == 200


def test_llm_judge_suggestions_through_the_openai_protocol(lenv: Env) -> None:
    """An LLM judge of prefkit.annotation (the OpenAI client, both orders, FastChat's pair-v2 prompt) against a
    real HTTP server speaking the chat-completions API (the judge tests' server: it prefers the answer saying
    "good")."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "fake_openai", Path(__file__).parents[1] / "annotation" / "conftest.py"
    )
    mod = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(mod)  # type: ignore[union-attr]
    rows = [
        {"id": "l0", "context": "Say hi", "candidates": [{"id": "x", "text": "a good hello"}, {"id": "y", "text": "meh"}]},
        {"id": "l1", "context": "Say bye", "candidates": [{"id": "x", "text": "meh"}, {"id": "y", "text": "a good bye"}]},
    ]  # fmt: skip
    assert _create(lenv, rows=rows).status_code == 201
    with mod.FakeOpenAI() as server:
        r = lenv.client.post(
            "/api/v1/campaigns/qc/suggestions/judge",
            json={"model": mod.MODEL, "base_url": server.url},
            headers=lenv.h(lenv.admin),
        )
        assert r.status_code == 201, r.text
        assert len(server.requests) == 4  # two pairs, both orders
        bad = lenv.client.post(
            "/api/v1/campaigns/qc/suggestions/judge",
            json={"model": "no-such-model", "base_url": server.url},
            headers=lenv.h(lenv.admin),
        )
        assert bad.status_code == 400 and "not found" in bad.text, bad.text
    with _db(lenv) as db:
        got = dict(
            db.execute(
                "SELECT t.context_id, s.answer FROM svc_suggestions s JOIN svc_tasks t ON t.id = s.task_id"
            ).fetchall()
        )
    assert {k: json.loads(v)["overall"]["winner"] for k, v in got.items()} == {"l0": 0, "l1": 1}
