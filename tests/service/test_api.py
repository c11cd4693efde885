"""The JSON API and the pages through the app factory (TestClient), with dependency overrides."""

from __future__ import annotations

import json

import numpy as np
import pytest

from prefkit.analysis.agreement import fleiss_kappa, krippendorff_alpha
from prefkit.service.deps import get_principal
from prefkit.service.repo import Principal

from .conftest import Env

ROWS = [
    {
        "id": f"q{i}",
        "context": f"question {i}",
        "candidates": [{"id": f"q{i}a", "text": f"answer A{i}"}, {"id": f"q{i}b", "text": f"answer B{i}"}],
    }
    for i in range(6)
]


def _campaign(env: Env, slug: str = "c1", **cfg: object) -> None:
    r = env.client.post(
        "/api/v1/campaigns", json={"slug": slug, "rows": ROWS, **cfg}, headers=env.h(env.admin)
    )
    assert r.status_code == 201, r.text


def _answer_all(env: Env, token: str, slug: str, pick: object) -> list[dict]:
    """Answer every task left for ``token``; ``pick(task) -> answer``. Returns the tasks seen."""
    seen = []
    while True:
        r = env.client.get(f"/api/v1/campaigns/{slug}/tasks/next", headers=env.h(token))
        if r.status_code == 204:
            return seen
        task = r.json()
        seen.append(task)
        ans = pick(task)  # type: ignore[operator]
        r = env.client.post(
            "/api/v1/judgments",
            json={"campaign": slug, "task_id": task["task_id"], "answer": ans},
            headers=env.h(token),
        )
        assert r.status_code == 201, r.text


def test_pairwise_flow_positions_idempotency_export(env: Env) -> None:
    _campaign(env, overlap=2)
    tok = env.invite("ann1", ["c1"])
    tasks = _answer_all(env, tok, "c1", lambda t: {"overall": {"winner": 0, "strength": None}})
    assert len(tasks) == len(ROWS)
    # positions are randomised per (task, annotator) but every task shows both candidates
    orders = [tuple(c["index"] for c in t["candidates"]) for t in tasks]
    assert {(0, 1), (1, 0)} >= set(orders) and all(sorted(o) == [0, 1] for o in orders)
    # idempotent re-submission, conflicting re-submission refused
    body = {"campaign": "c1", "task_id": tasks[0]["task_id"], "answer": {"overall": {"winner": 0}}}
    r = env.client.post("/api/v1/judgments", json=body, headers=env.h(tok))
    assert r.status_code == 201 and r.json()["duplicate"] is True
    body["answer"] = {"overall": {"winner": 1}}
    assert env.client.post("/api/v1/judgments", json=body, headers=env.h(tok)).status_code == 409
    # export: the answer log records the shown positions; TRL rows put the chosen text first
    r = env.client.get("/api/v1/campaigns/c1/export?format=answers", headers=env.h(env.admin))
    rows = [json.loads(line) for line in r.text.splitlines()]
    assert len(rows) == len(ROWS) and {r["outcome"] for r in rows} == {"a"}
    assert all(sorted(r["positions"]) == sorted([r["a"], r["b"]]) for r in rows)
    trl = [
        json.loads(line)
        for line in env.client.get(
            "/api/v1/campaigns/c1/export?format=trl", headers=env.h(env.admin)
        ).text.splitlines()
    ]
    assert trl[0] == {"prompt": "question 0", "chosen": "answer A0", "rejected": "answer B0"}
    assert (
        env.client.get("/api/v1/campaigns/c1/export?format=xml", headers=env.h(env.admin)).status_code == 400
    )


def test_overlap_and_skip(env: Env) -> None:
    _campaign(env, overlap=1)
    t1, t2 = env.invite("a1", ["c1"]), env.invite("a2", ["c1"])
    first = env.client.get("/api/v1/campaigns/c1/tasks/next", headers=env.h(t1)).json()
    r = env.client.post(
        "/api/v1/judgments",
        json={"campaign": "c1", "task_id": first["task_id"], "skip": True},
        headers=env.h(t1),
    )
    assert r.status_code == 201
    # skipped by a1, still open for a2; a1 moves on
    leased = env.client.get("/api/v1/campaigns/c1/tasks/next", headers=env.h(t1)).json()["task_id"]
    assert leased != first["task_id"]
    assert (
        env.client.get("/api/v1/campaigns/c1/tasks/next", headers=env.h(t2)).json()["task_id"]
        == first["task_id"]
    )
    # overlap 1: a2 gets every task but the one leased to a1
    done = _answer_all(env, t2, "c1", lambda t: {"overall": {"winner": "tie"}})
    assert len(done) == len(ROWS) - 1 and leased not in {t["task_id"] for t in done}
    assert env.client.get("/api/v1/campaigns/c1/tasks/next", headers=env.h(t1)).json()["task_id"] == leased
    r = env.client.post(
        "/api/v1/judgments",
        json={"campaign": "c1", "task_id": leased, "answer": {"overall": {"winner": 0}}},
        headers=env.h(t1),
    )
    assert r.status_code == 201
    # everything is answered once: nothing is left for anyone
    assert env.client.get("/api/v1/campaigns/c1/tasks/next", headers=env.h(t1)).status_code == 204
    assert env.client.get("/api/v1/campaigns/c1/tasks/next", headers=env.h(t2)).status_code == 204


def test_agreement_matches_the_analysis_functions(env: Env) -> None:
    _campaign(env, overlap=3)
    rng = np.random.default_rng(3)
    truth = {}
    labels: dict[int, list[object]] = {}
    for name in ("r1", "r2", "r3"):
        tok = env.invite(name, ["c1"])

        def pick(task: dict, rng: np.random.Generator = rng) -> dict:
            w = truth.setdefault(task["task_id"], int(rng.integers(2)))
            choice: object = w if rng.random() < 0.7 else ["tie", 1 - w][int(rng.integers(2))]
            labels.setdefault(task["task_id"], []).append(choice)
            return {"overall": {"winner": choice}}

        _answer_all(env, tok, "c1", pick)
    cat = {0: 0, 1: 1, "tie": 2}
    counts = np.array([[sum(cat[x] == k for x in v) for k in range(3)] for v in labels.values()])
    matrix = np.array([[cat[v[r]] for v in labels.values()] for r in range(3)], dtype=float)
    got = env.client.get("/api/v1/campaigns/c1/agreement", headers=env.h(env.admin)).json()[0]
    assert got["kappa"] == pytest.approx(fleiss_kappa(counts))
    assert got["alpha"] == pytest.approx(krippendorff_alpha(matrix, "nominal"))
    env.client.cookies.set("prefkit_token", env.admin)
    page = env.client.get("/admin/campaigns/c1", headers={"accept": "text/html"}).text
    assert f"{got['alpha']:.3f}" in page and f"{got['kappa']:.3f}" in page


def test_ranking_and_rating_answers_are_validated(env: Env) -> None:
    _campaign(env, "rk", shape="ranking", overlap=1)
    _campaign(
        env, "rt", shape="rating", attributes=["helpful", "honest"], scale_min=1, scale_max=7, overlap=1
    )
    tok = env.invite("ann", ["rk", "rt"])
    t = env.client.get("/api/v1/campaigns/rk/tasks/next", headers=env.h(tok)).json()
    bad = [
        {"overall": {"order": [0, 0]}},
        {"overall": {"order": [0]}},
        {"overall": {}},
        {"other": {"order": [0, 1]}},
    ]
    for ans in bad:
        r = env.client.post(
            "/api/v1/judgments",
            json={"campaign": "rk", "task_id": t["task_id"], "answer": ans},
            headers=env.h(tok),
        )
        assert r.status_code == 422, ans
    r = env.client.post(
        "/api/v1/judgments",
        json={"campaign": "rk", "task_id": t["task_id"], "answer": {"overall": {"order": [1, 0]}}},
        headers=env.h(tok),
    )
    assert r.status_code == 201
    t = env.client.get("/api/v1/campaigns/rt/tasks/next", headers=env.h(tok)).json()
    assert t["criteria"] == ["helpful", "honest"] and t["scale"] == [1, 7]
    body = {
        "campaign": "rt",
        "task_id": t["task_id"],
        "answer": {"helpful": {"scores": [1, 9]}, "honest": {"scores": [3, 4]}},
    }
    assert env.client.post("/api/v1/judgments", json=body, headers=env.h(tok)).status_code == 422
    body["answer"]["helpful"]["scores"] = [7, 2]  # type: ignore[index]
    assert env.client.post("/api/v1/judgments", json=body, headers=env.h(tok)).status_code == 201
    rows = [
        json.loads(x)
        for x in env.client.get("/api/v1/campaigns/rt/export", headers=env.h(env.admin)).text.splitlines()
    ]
    rows = [r for r in rows if r["type"] == "rating"]
    assert sorted((r["attribute"], r["score"]) for r in rows) == [
        ("helpful", 2),
        ("helpful", 7),
        ("honest", 3),
        ("honest", 4),
    ]


def test_rationale_required(env: Env) -> None:
    _campaign(env, rationale_required=True, overlap=1)
    tok = env.invite("ann", ["c1"])
    t = env.client.get("/api/v1/campaigns/c1/tasks/next", headers=env.h(tok)).json()
    body = {"campaign": "c1", "task_id": t["task_id"], "answer": {"overall": {"winner": 0}}}
    r = env.client.post("/api/v1/judgments", json=body, headers=env.h(tok))
    assert r.status_code == 422 and "rationale" in r.json()["error"]["message"]
    assert (
        env.client.post(
            "/api/v1/judgments", json={**body, "rationale": "A is correct"}, headers=env.h(tok)
        ).status_code
        == 201
    )


def test_bad_campaign_files_name_the_line(env: Env) -> None:
    h = env.h(env.admin)
    rows = [ROWS[0], {"id": "x", "context": "c", "candidates": [{"id": "a", "text": "t"}]}]
    r = env.client.post("/api/v1/campaigns", json={"slug": "bad", "rows": rows}, headers=h)
    assert r.status_code == 400 and r.json()["error"]["message"].startswith("rows:2:")
    rows = [
        {"id": "x", "candidates": [{"id": "a", "image": "javascript:alert(1)"}, {"id": "b", "text": "t"}]}
    ]
    r = env.client.post("/api/v1/campaigns", json={"slug": "bad", "rows": rows}, headers=h)
    assert r.status_code == 400 and "http(s) URL" in r.text
    assert (
        env.client.post("/api/v1/campaigns", json={"slug": "Bad Slug!", "rows": ROWS}, headers=h).status_code
        == 400
    )
    assert (
        env.client.post(
            "/api/v1/campaigns", json={"slug": "ok", "rows": ROWS, "overlap": 0}, headers=h
        ).status_code
        == 400
    )
    _campaign(env, "dup")
    assert (
        env.client.post("/api/v1/campaigns", json={"slug": "dup", "rows": ROWS}, headers=h).status_code == 400
    )


def test_arena_api_vote_updates_leaderboard(env: Env) -> None:
    tok = env.invite("voter", arenas=["demo-kwise"])
    h = env.h(tok)
    before = env.client.get("/api/v1/arenas/demo-kwise/leaderboard", headers=h).json()
    m = env.client.get("/api/v1/arenas/demo-kwise/match", headers=h).json()
    assert len(m["outputs"]) == 4
    r = env.client.post(
        "/api/v1/arenas/demo-kwise/votes", json={"match": m["match"], "ranks": [0, 1, 1, 2]}, headers=h
    )
    assert r.status_code == 201 and r.json()["duplicate"] is False
    again = env.client.post(
        "/api/v1/arenas/demo-kwise/votes", json={"match": m["match"], "ranks": [0, 1, 1, 2]}, headers=h
    )
    assert again.json() == {"id": r.json()["id"], "duplicate": True}
    assert (
        env.client.post(
            "/api/v1/arenas/demo-kwise/votes", json={"match": m["match"], "ranks": [3, 1, 1, 2]}, headers=h
        ).status_code
        == 409
    )
    after = env.client.get("/api/v1/arenas/demo-kwise/leaderboard", headers=h).json()
    assert after[0]["n_votes"] == before[0]["n_votes"] + 1
    assert after[0]["rows"] != before[0]["rows"]
    # tampered or foreign matches are refused
    forged = m["match"][:-1] + ("0" if m["match"][-1] != "0" else "1")
    assert (
        env.client.post(
            "/api/v1/arenas/demo-kwise/votes", json={"match": forged, "ranks": [0, 1, 2, 3]}, headers=h
        ).status_code
        == 400
    )
    other = env.invite("other", arenas=["demo-kwise"])
    assert (
        env.client.post(
            "/api/v1/arenas/demo-kwise/votes",
            json={"match": m["match"], "ranks": [0, 1, 1, 2]},
            headers=env.h(other),
        ).status_code
        == 403
    )
    assert (
        env.client.post(
            "/api/v1/arenas/demo-kwise/votes", json={"match": m["match"], "ranks": [0, 1]}, headers=h
        ).status_code
        == 400
    )


def test_arena_state_survives_restart(env: Env, tmp_path: object) -> None:
    from prefkit.service import Settings, create_app

    tok = env.invite("voter", arenas=["demo-arena"])
    for _ in range(5):
        m = env.client.get("/api/v1/arenas/demo-arena/match", headers=env.h(tok)).json()
        env.client.post(
            "/api/v1/arenas/demo-arena/votes", json={"match": m["match"], "ranks": [0, 1]}, headers=env.h(tok)
        )
    live = env.client.get("/api/v1/arenas/demo-arena/leaderboard", headers=env.h(tok)).json()
    app2 = create_app(Settings(db_path=env.app.state.svc.settings.db_path, admin_token=env.admin))
    from fastapi.testclient import TestClient

    with TestClient(app2) as c2:
        replayed = c2.get("/api/v1/arenas/demo-arena/leaderboard", headers=env.h(tok)).json()
    assert replayed == live


def test_dependency_override_and_openapi(env: Env) -> None:
    fake = Principal(
        token_id=env.app.state.svc.admin_id, role="admin", annotator="override", kind="human", token_hash="x"
    )
    env.app.dependency_overrides[get_principal] = lambda: fake
    try:
        r = env.client.get("/api/v1/campaigns/demo-pairwise/tasks/next")
        assert r.status_code == 200 and r.json()["campaign"] == "demo-pairwise"
    finally:
        env.app.dependency_overrides.clear()
    assert env.client.get("/api/v1/campaigns/demo-pairwise/tasks/next").status_code == 401
    spec = env.client.get("/openapi.json").json()
    for path in (
        "/api/v1/judgments",
        "/api/v1/campaigns/{slug}/tasks/next",
        "/api/v1/arenas/{slug}/leaderboard",
        "/api/v1/campaigns/{slug}/export",
    ):
        assert path in spec["paths"]
    docs = env.client.get("/docs").text
    assert "/api/v1/judgments" in docs and "cdn" not in docs.lower()


def test_pages_render(env: Env) -> None:
    env.client.cookies.set("prefkit_token", env.annotator)
    for path in (
        "/",
        "/c/demo-pairwise",
        "/c/demo-ranking",
        "/c/demo-pairwise/guidelines",
        "/a/demo-arena",
        "/a/demo-kwise",
        "/a/demo-arena/leaderboard",
    ):
        r = env.client.get(path, headers={"accept": "text/html"})
        assert r.status_code == 200, path
    page = env.client.get("/c/demo-pairwise", headers={"accept": "text/html"}).text
    assert 'name="csrf"' in page and "Guidelines" in page
    env.client.cookies.set("prefkit_token", env.admin)
    assert "demo invite" in env.client.get("/admin", headers={"accept": "text/html"}).text


def test_a_vote_with_next_deals_the_following_match_in_its_reply(env: Env) -> None:
    """``next: true`` returns the token's next match with the vote (one round trip per vote); that match is a
    real one (it can be voted), the vote itself is recorded as without ``next``, and ``next`` must be a bool."""
    tok = env.invite("voter", arenas=["demo-kwise"])
    h = env.h(tok)
    before = env.client.get("/api/v1/arenas/demo-kwise/leaderboard", headers=h).json()[0]["n_votes"]
    m = env.client.get("/api/v1/arenas/demo-kwise/match", headers=h).json()
    for _ in range(3):
        r = env.client.post(
            "/api/v1/arenas/demo-kwise/votes",
            json={"match": m["match"], "ranks": [0, 1, 2, 3], "next": True},
            headers=h,
        )
        assert r.status_code == 201, r.text
        body = r.json()
        assert body["duplicate"] is False and len(body["next"]["outputs"]) == 4
        assert body["next"]["match"] != m["match"]
        m = body["next"]
    plain = env.client.post(
        "/api/v1/arenas/demo-kwise/votes", json={"match": m["match"], "ranks": [0, 1, 2, 3]}, headers=h
    ).json()
    assert plain.get("next") is None
    after = env.client.get("/api/v1/arenas/demo-kwise/leaderboard", headers=h).json()[0]["n_votes"]
    assert after == before + 4
    m = env.client.get("/api/v1/arenas/demo-kwise/match", headers=h).json()
    for bad in ("yes", 1, None):
        r = env.client.post(
            "/api/v1/arenas/demo-kwise/votes", json={"match": m["match"], "ranks": [0, 1, 2, 3], "next": bad}, headers=h
        )
        assert r.status_code in (400, 422), (bad, r.status_code)
        assert "next" in r.text
    assert env.client.get("/api/v1/arenas/demo-kwise/leaderboard", headers=h).json()[0]["n_votes"] == after
