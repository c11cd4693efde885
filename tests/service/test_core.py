"""The web app as a producer of prefkit data: answers and arena votes become core judgments in the project
store; exports are files that ``prefkit.data.io.read`` reads back; the fast lane answers like FastAPI."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from prefkit.data import io
from prefkit.data.model import OUTCOME_A, OUTCOME_B, OUTCOME_TIE
from prefkit.service import Settings, create_app
from prefkit.storage.store import ProjectStore

from .conftest import ADMIN, Env

ROWS = [
    {
        "id": f"q{i}",
        "context": f"question {i}",
        "candidates": [{"id": c, "text": f"answer {c}{i}"} for c in ("x", "y", "z")],
    }
    for i in range(4)
]


def _campaign(env: Env, slug: str, **cfg: object) -> None:
    r = env.client.post(
        "/api/v1/campaigns", json={"slug": slug, "rows": ROWS, "overlap": 2, **cfg}, headers=env.h(env.admin)
    )
    assert r.status_code == 201, r.text


def _answer_all(env: Env, token: str, slug: str, pick: Any) -> list[tuple[dict, dict]]:
    """Answer every task left for ``token`` with ``pick(task)``; return (task, answer) pairs."""
    done = []
    while True:
        r = env.client.get(f"/api/v1/campaigns/{slug}/tasks/next", headers=env.h(token))
        if r.status_code == 204:
            return done
        task = r.json()
        ans = pick(task)
        r = env.client.post(
            "/api/v1/judgments",
            json={"campaign": slug, "task_id": task["task_id"], "answer": ans},
            headers=env.h(token),
        )
        assert r.status_code == 201, r.text
        done.append((task, ans))


def _export(env: Env, slug: str, fmt: str, tmp: Path) -> Path:
    r = env.client.get(f"/api/v1/campaigns/{slug}/export?format={fmt}", headers=env.h(env.admin))
    assert r.status_code == 200, r.text
    path = tmp / f"{slug}.{fmt}.jsonl"
    path.write_bytes(r.content)
    return path


def _ids(task: dict) -> dict[int, str]:
    """Candidate index -> candidate id, from the task as served."""
    return {c["index"]: c["id"] for c in task["candidates"]}


def test_pairwise_answers_become_core_judgments_and_exports_read_back(env: Env, tmp_path: Path) -> None:
    _campaign(env, "pw", strength=True)
    rng = np.random.default_rng(0)
    submitted: dict[tuple[str, str, str], tuple[str, float]] = {}
    for name, kind in (("alice", "human"), ("judge-1", "model")):
        tok = env.invite(name, ["pw"], kind=kind)

        def pick(task: dict, name: str = name) -> dict:
            w = [0, 1, "tie"][int(rng.integers(3))]
            s = None if w == "tie" else int(rng.integers(1, 4))
            ids = _ids(task)
            ctx = task["context"]["text"].split()[-1]
            a, b = f"pw/q{ctx}/{ids[0]}", f"pw/q{ctx}/{ids[1]}"
            outcome = "tie" if w == "tie" else ("a" if w == 0 else "b")
            strength = float("nan") if s is None else float(s if w == 0 else -s)
            submitted[(name, a, b)] = (outcome, strength)
            return {"overall": {"winner": w, "strength": s}}

        _answer_all(env, tok, "pw", pick)
    assert len(submitted) == 2 * len(ROWS) * 3

    ds = io.read(_export(env, "pw", "jsonl", tmp_path))
    assert len(ds.pairwise) == len(submitted) and ds.n_judgments == len(submitted)
    names = {0: "a", 1: "b", 2: "tie"}
    got = {}
    for i in range(len(ds.pairwise)):
        p = ds.pairwise
        key = (ds.annotators.name(p.annotator[i]), ds.items.name(p.a[i]), ds.items.name(p.b[i]))
        got[key] = (names[int(p.outcome[i])], float(p.strength[i]))
        assert ds.contexts.name(p.context[i]).startswith("pw/q")
    assert got.keys() == submitted.keys()
    for k, (outcome, strength) in submitted.items():
        assert got[k][0] == outcome
        assert got[k][1] == strength or (np.isnan(got[k][1]) and np.isnan(strength))
    assert ds.annotator_kind == {"alice": "human", "judge-1": "model"}
    assert ds.item_text["pw/q2/y"] == "answer y2" and ds.context_text["pw/q3"] == "question 3"

    # TRL rows: one per decided pair, the chosen text being the winner's
    trl = io.read(_export(env, "pw", "trl", tmp_path), format="trl")
    decided = [(k, o) for k, (o, _) in submitted.items() if o != "tie"]
    assert len(trl.pairwise) == len(decided)
    texts = {
        (trl.item_text[trl.items.name(trl.pairwise.a[i])], trl.item_text[trl.items.name(trl.pairwise.b[i])])
        for i in range(len(trl.pairwise))
    }
    want = set()
    for (_, a, b), o in decided:
        ta, tb = ds.item_text[a], ds.item_text[b]
        want.add((ta, tb) if o == "a" else (tb, ta))
    assert texts == want and set(trl.pairwise.outcome.tolist()) == {OUTCOME_A}

    # the same judgments are in the project store, under the campaign's source
    with ProjectStore(env.app.state.svc.settings.db_path) as store:
        core = store.to_dataset(source="service:campaign/pw")
        assert len(core.pairwise) == len(submitted)
        n_before = store.counts().pairwise
        # re-importing the export adds nothing: ids and contents agree
        report = store.import_file(tmp_path / "pw.jsonl.jsonl")
        assert report.added == 0 and report.duplicates == len(submitted)
        assert store.counts().pairwise == n_before


def test_ranking_and_rating_answers(env: Env, tmp_path: Path) -> None:
    _campaign(env, "rk", shape="ranking", overlap=1)
    _campaign(
        env, "rt", shape="rating", attributes=["helpful", "honest"], scale_min=1, scale_max=7, overlap=1
    )
    tok = env.invite("ann", ["rk", "rt"])
    rankings = {}

    def rank(task: dict) -> dict:
        order = [2, 0, 1]
        ids = _ids(task)
        rankings[task["context"]["text"]] = [ids[i] for i in order]
        return {"overall": {"order": order}}

    _answer_all(env, tok, "rk", rank)
    ratings = {}

    def rate(task: dict) -> dict:
        ids = _ids(task)
        q = task["context"]["text"].split()[-1]
        for i in range(3):
            ratings[(f"rt/q{q}/{ids[i]}", "helpful")] = 1 + i
            ratings[(f"rt/q{q}/{ids[i]}", "honest")] = 7 - i
        return {"helpful": {"scores": [1, 2, 3]}, "honest": {"scores": [7, 6, 5]}}

    _answer_all(env, tok, "rt", rate)

    rk = io.read(_export(env, "rk", "jsonl", tmp_path))
    assert len(rk.rankings) == len(ROWS) and len(rk.pairwise) == 0
    for r in range(len(rk.rankings)):
        groups = [[rk.items.name(m) for m in g] for g in rk.rankings.groups(r)]
        ctx = rk.context_text[rk.contexts.name(rk.rankings.context[r])]
        assert [g[0].rsplit("/", 1)[1] for g in groups] == rankings[ctx]
    # TRL: each ranking of 3 implies 3 (chosen, rejected) pairs
    trl = io.read(_export(env, "rk", "trl", tmp_path), format="trl")
    assert len(trl.pairwise) == 3 * len(ROWS)

    rt = io.read(_export(env, "rt", "jsonl", tmp_path))
    assert len(rt.ratings) == len(ratings)
    got = {
        (rt.items.name(rt.ratings.item[i]), rt.attributes.name(rt.ratings.attribute[i])): rt.ratings.score[i]
        for i in range(len(rt.ratings))
    }
    assert got == ratings
    assert set(rt.ratings.scale_min.tolist()) == {1.0} and set(rt.ratings.scale_max.tolist()) == {7.0}


def test_arena_votes_feed_the_store_export_and_rank(env: Env, tmp_path: Path) -> None:
    tok = env.invite("voter", arenas=["demo-arena", "demo-kwise"])
    wins: dict[str, int] = {}
    for _ in range(30):
        m = env.client.get("/api/v1/arenas/demo-arena/match", headers=env.h(tok)).json()
        r = env.client.post(
            "/api/v1/arenas/demo-arena/votes", json={"match": m["match"], "ranks": [0, 1]}, headers=env.h(tok)
        )
        assert r.status_code == 201, r.text
        again = env.client.post(
            "/api/v1/arenas/demo-arena/votes", json={"match": m["match"], "ranks": [0, 1]}, headers=env.h(tok)
        )
        assert again.json()["duplicate"] is True
    m = env.client.get("/api/v1/arenas/demo-kwise/match", headers=env.h(tok)).json()
    r = env.client.post(
        "/api/v1/arenas/demo-kwise/votes",
        json={"match": m["match"], "ranks": [1, 0, 1, 2]},
        headers=env.h(tok),
    )
    assert r.status_code == 201
    svc = env.app.state.svc
    svc.writer.call(svc.core.sync_all)
    with ProjectStore(svc.settings.db_path) as store:
        ds = store.to_dataset(source="service:arena/demo-arena")
        assert len(ds.pairwise) == 30 and set(ds.pairwise.outcome.tolist()) == {OUTCOME_A}
        for i in range(30):
            wins[ds.items.name(ds.pairwise.a[i])] = wins.get(ds.items.name(ds.pairwise.a[i]), 0) + 1
        kw = store.to_dataset(source="service:arena/demo-kwise")
        assert len(kw.rankings) == 1 and [len(g) for g in kw.rankings.groups(0)] == [1, 2, 1]
        assert kw.annotator_kind == {"voter": "human"}
    # prefkit export --db, then prefkit rank on the export: the arena's models, from the web app's votes
    out = tmp_path / "arena.jsonl"
    cmd = [sys.executable, "-m", "prefkit.cli.main"]
    res = subprocess.run(
        [*cmd, "export", "--db", str(svc.settings.db_path), str(out), "--source", "service:arena/demo-arena"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr
    res = subprocess.run(
        [*cmd, "rank", str(out), "--format", "json", "--ci", "none", "--prior", "0.1", "-q"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr
    text = res.stdout
    assert all(name in text for name in wins)


def test_tie_in_an_arena_and_names_that_clash(env: Env) -> None:
    tok = env.invite("tied", arenas=["demo-arena"])
    m = env.client.get("/api/v1/arenas/demo-arena/match", headers=env.h(tok)).json()
    env.client.post(
        "/api/v1/arenas/demo-arena/votes", json={"match": m["match"], "ranks": [0, 0]}, headers=env.h(tok)
    )
    svc = env.app.state.svc
    svc.writer.call(svc.core.sync_all)
    with ProjectStore(svc.settings.db_path) as store:
        ds = store.to_dataset(source="service:arena/demo-arena")
        assert ds.pairwise.outcome.tolist() == [OUTCOME_TIE]
    # an annotator name already used with another kind is refused when the token is issued
    r = env.client.post(
        "/api/v1/tokens", json={"annotator": "tied", "kind": "model"}, headers=env.h(env.admin)
    )
    assert r.status_code == 400 and "tied" in r.json()["error"]["message"]
    # a campaign whose contexts clash with data already in the store is refused, and not created
    with ProjectStore(svc.settings.db_path) as store:
        store.conn.execute("INSERT INTO contexts(id, text) VALUES ('cl/q0', 'something else')")
    r = env.client.post("/api/v1/campaigns", json={"slug": "cl", "rows": ROWS}, headers=env.h(env.admin))
    assert r.status_code == 400 and "cl/q0" in r.json()["error"]["message"]
    assert env.client.get("/api/v1/campaigns/cl/export", headers=env.h(env.admin)).status_code == 404


def test_catch_up_after_a_crash_or_an_old_file(tmp_path: Path) -> None:
    """Service rows with no core judgments (acknowledged, then the process died before the copy; or a file
    of an older prefkit) are copied at the next start, exactly once."""
    from fastapi.testclient import TestClient

    db = tmp_path / "p.db"
    settings = Settings(db_path=db, admin_token=ADMIN, synchronous="NORMAL", rate_per_s=1000, rate_burst=1000)
    app = create_app(settings)
    h = {"Authorization": f"Bearer {ADMIN}"}
    with TestClient(app) as client:
        assert (
            client.post(
                "/api/v1/campaigns", json={"slug": "c", "rows": ROWS, "overlap": 1}, headers=h
            ).status_code
            == 201
        )
        tok = client.post("/api/v1/tokens", json={"annotator": "u", "campaigns": ["c"]}, headers=h).json()[
            "token"
        ]
        app.state.svc.writer.follow_up = None  # the copy never happens in this process
        n = 0
        while (
            t := client.get("/api/v1/campaigns/c/tasks/next", headers={"Authorization": f"Bearer {tok}"})
        ).status_code == 200:
            r = client.post(
                "/api/v1/judgments",
                json={"campaign": "c", "task_id": t.json()["task_id"], "answer": {"overall": {"winner": 1}}},
                headers={"Authorization": f"Bearer {tok}"},
            )
            assert r.status_code == 201
            n += 1
    assert n == 3 * len(ROWS)
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM pairwise").fetchone()[0] == 0
        # and an older file: no registered entities either
        conn.execute("DELETE FROM svc_meta WHERE key = 'core_entities_v1'")
    for _ in range(2):  # the second start finds nothing to do
        app = create_app(settings)
        app.state.svc.close()
        with sqlite3.connect(db) as conn:
            ids = [r[0] for r in conn.execute("SELECT id FROM pairwise")]
            outcomes = {r[0] for r in conn.execute("SELECT outcome FROM pairwise")}
        assert len(ids) == len(set(ids)) == n and outcomes == {OUTCOME_B}


def test_a_failing_copy_loses_no_acknowledged_vote(env: Env) -> None:
    svc = env.app.state.svc
    real = svc.core.sync
    calls = {"n": 0}

    def flaky(conn: Any, limit: int | None = None) -> bool:
        calls["n"] += 1
        if calls["n"] == 1:
            raise sqlite3.OperationalError("disk I/O error (simulated)")
        return bool(real(conn, limit))

    svc.writer.follow_up = flaky
    svc.writer.follow_every = 0.01
    tok = env.invite("f", ["demo-pairwise"])
    t = env.client.get("/api/v1/campaigns/demo-pairwise/tasks/next", headers=env.h(tok)).json()
    r = env.client.post(
        "/api/v1/judgments",
        json={"campaign": "demo-pairwise", "task_id": t["task_id"], "answer": {"overall": {"winner": 0}}},
        headers=env.h(tok),
    )
    assert r.status_code == 201  # acknowledged: the copy comes later, and its first try fails
    deadline = time.monotonic() + 20
    while calls["n"] < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert calls["n"] >= 1
    svc.writer.call(svc.core.sync_all)
    with ProjectStore(svc.settings.db_path) as store:
        ds = store.to_dataset(source="service:campaign/demo-pairwise")
        assert ds.annotators.names == ["f"] and len(ds.pairwise) == 1
    assert calls["n"] >= 1


BAD_REQUESTS: list[tuple[str, dict[str, str], bytes]] = [
    ("/api/v1/judgments", {}, b'{"campaign": "demo-pairwise", "task_id": 1}'),  # no answer
    ("/api/v1/judgments", {}, b'{"campaign": "demo-pairwise"}'),  # missing field
    ("/api/v1/judgments", {}, b'{"campaign": "nope", "task_id": 1, "answer": {}}'),  # no such campaign
    ("/api/v1/judgments", {}, b'{"campaign": "demo-pairwise", "task_id": 999999, "answer": {}}'),
    ("/api/v1/judgments", {}, b'{"campaign": "demo-pairwise", "task_id": 1, "answer": {"x": {}}}'),
    ("/api/v1/judgments", {"authorization": "Bearer not-a-token"}, b"{}"),
    ("/api/v1/judgments", {"authorization": "Bearer "}, b"{}"),
    ("/api/v1/arenas/demo-arena/votes", {}, b'{"match": "x.y", "ranks": [0, 1]}'),
    ("/api/v1/arenas/nope/votes", {}, b'{"match": "x.y", "ranks": [0, 1]}'),
    ("/api/v1/arenas/demo-arena/votes", {}, b'{"ranks": "no"}'),
]


@pytest.mark.parametrize("path,headers,body", BAD_REQUESTS)
def test_fast_lane_answers_like_fastapi(env: Env, path: str, headers: dict[str, str], body: bytes) -> None:
    h = {"authorization": f"Bearer {env.annotator}", "content-type": "application/json", **headers}
    fast = env.client.post(path, content=body, headers=h)
    lane = env.app.fast_lane
    env.app.fast_lane = None  # the same request through FastAPI's routing and dependencies
    try:
        slow = env.client.post(path, content=body, headers=h)
    finally:
        env.app.fast_lane = lane
    assert fast.status_code == slow.status_code, (fast.text, slow.text)
    assert fast.status_code >= 400
    if fast.json() != slow.json():  # only pydantic's words for a body may differ a little (raw JSON vs dict)
        assert fast.status_code == 422
        assert fast.json()["error"]["message"].startswith("invalid request: ")
        assert slow.json()["error"]["message"].startswith("invalid request: ")
    for k in ("x-content-type-options", "content-security-policy", "x-frame-options"):
        assert fast.headers[k] == slow.headers[k]


@pytest.mark.parametrize(
    "path,token",
    [
        ("/api/v1/arenas/demo-arena/match", None),
        ("/api/v1/arenas/nope/match", None),
        ("/api/v1/arenas/demo-arena/match", "wrong"),
        ("/api/v1/arenas/demo-arena/match", "admin"),
    ],
)
def test_fast_lane_deals_matches_like_fastapi(env: Env, path: str, token: str | None) -> None:
    h = {"authorization": f"Bearer {env.admin if token == 'admin' else token or env.annotator}"}
    fast = env.client.get(path, headers=h)
    lane = env.app.fast_lane
    env.app.fast_lane = None
    try:
        slow = env.client.get(path, headers=h)
    finally:
        env.app.fast_lane = lane
    assert fast.status_code == slow.status_code
    if fast.status_code == 200:
        a, b = fast.json(), slow.json()
        assert a.keys() == b.keys() == {"match", "prompt", "outputs"} and len(a["outputs"]) == 2
        vote = {"match": a["match"], "ranks": [1, 0]}
        assert env.client.post(path.replace("match", "votes"), json=vote, headers=h).status_code == 201
    else:
        assert fast.json() == slow.json()


def test_fast_lane_success_rate_limit_and_revocation(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    app = create_app(Settings(db_path=tmp_path / "p.db", admin_token=ADMIN, rate_per_s=0.001, rate_burst=3))
    h = {"Authorization": f"Bearer {ADMIN}"}
    with TestClient(app) as client:
        client.post("/api/v1/campaigns", json={"slug": "c", "rows": ROWS, "overlap": 1}, headers=h)
        made = client.post("/api/v1/tokens", json={"annotator": "u", "campaigns": ["c"]}, headers=h).json()
        th = {"Authorization": f"Bearer {made['token']}"}
        task = client.get("/api/v1/campaigns/c/tasks/next", headers=th).json()
        body = {"campaign": "c", "task_id": task["task_id"], "answer": {"overall": {"winner": 0}}}
        r = client.post("/api/v1/judgments", json=body, headers=th)
        assert r.status_code == 201 and r.json() == {"id": r.json()["id"], "duplicate": False}
        assert client.post("/api/v1/judgments", json=body, headers=th).json()["duplicate"] is True
        r = client.post("/api/v1/judgments", json=body, headers=th)
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
        client.post(f"/admin/tokens/{made['id']}/revoke", headers=h, follow_redirects=False)
        r = client.post("/api/v1/judgments", json=body, headers=th)
        assert r.status_code == 401 and r.json()["error"]["message"] == "unknown or revoked token"


def test_export_bad_format(env: Env) -> None:
    r = env.client.get("/api/v1/campaigns/demo-pairwise/export?format=xml", headers=env.h(env.admin))
    assert r.status_code == 400 and "jsonl" in r.json()["error"]["message"]
    empty = env.client.get("/api/v1/campaigns/demo-ranking/export?format=jsonl", headers=env.h(env.admin))
    assert empty.status_code == 200
    lines = [json.loads(x) for x in empty.text.splitlines()]
    assert all(x["type"] != "ranking" for x in lines)


def test_append_dataset_agrees_with_import_dataset(tmp_path: Path) -> None:
    """The store's append (used by the service, small batches by IN queries) stores what a bulk import
    stores, and refuses the same clashes with the same messages."""
    from prefkit.errors import InputError
    from prefkit.storage import store as S

    src = tmp_path / "d.jsonl"
    recs = [
        {"type": "item", "id": "x", "text": "X"},
        {"type": "context", "id": "c1", "text": "C"},
        {"type": "annotator", "id": "w", "kind": "model"},
        {
            "type": "pairwise",
            "a": "x",
            "b": "y",
            "outcome": "a",
            "strength": 2,
            "context": "c1",
            "annotator": "w",
            "id": "j1",
        },
        {"type": "pairwise", "a": "y", "b": "z", "outcome": "tie", "criterion": "honest"},
        {"type": "ranking", "ranking": [["x", "y"], "z"], "context": "c1", "id": "r1"},
        {
            "type": "rating",
            "item": "z",
            "score": 3,
            "scale": [1, 5],
            "attribute": "helpful",
            "annotator": "w",
        },
    ]
    src.write_text("".join(json.dumps(r) + "\n" for r in recs))
    ds = io.read(src)
    with ProjectStore(tmp_path / "bulk.db") as bulk, ProjectStore(tmp_path / "small.db") as small:
        bulk.import_dataset(ds, source="s")
        small.conn.execute("BEGIN IMMEDIATE")
        imp = S.new_import(small.conn, source="s")
        added = S.append_dataset(small.conn, ds, import_id=imp)
        again = S.append_dataset(small.conn, ds, import_id=imp, seq0=10)
        small.conn.execute("COMMIT")
        assert (added.added, added.duplicates, again.added, again.duplicates) == (4, 0, 0, 4)
        a, b = bulk.to_dataset(), small.to_dataset()
        assert a.items.names == b.items.names and a.annotator_kind == b.annotator_kind
        assert a.pairwise.equals(b.pairwise) and a.rankings.equals(b.rankings) and a.ratings.equals(b.ratings)
        assert a.item_text == b.item_text and a.context_text == b.context_text
        assert small.imports()[0].counts["added"] == 4
        for changed in ({"type": "item", "id": "x", "text": "other"}, {**recs[3], "outcome": "b"}):
            bad = tmp_path / "bad.jsonl"
            bad.write_text(
                json.dumps(changed) + "\n" + (json.dumps(recs[3]) + "\n" if changed["type"] == "item" else "")
            )
            with pytest.raises(InputError) as e_bulk:
                bulk.import_file(bad)
            small.conn.execute("BEGIN IMMEDIATE")
            with pytest.raises(InputError) as e_small:
                S.append_dataset(small.conn, io.read(bad), import_id=imp)
            small.conn.execute("ROLLBACK")
            assert str(e_small.value).split(": ", 1)[1] == str(e_bulk.value).split(": ", 1)[1]
