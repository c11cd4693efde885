"""Acknowledged votes survive SIGKILL; re-submission is idempotent; concurrent writers never corrupt a campaign."""

from __future__ import annotations

import hashlib
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from .conftest import ADMIN


def _h(token: str) -> str:
    """A token as the database stores it (its SHA-256)."""
    return hashlib.sha256(token.encode()).hexdigest()


def _setup(url: str, n_rows: int, n_tokens: int) -> list[str]:
    h = {"Authorization": f"Bearer {ADMIN}"}
    rows = [{"id": f"q{i}", "context": f"q{i}", "candidates": ["a", "b"]} for i in range(n_rows)]
    r = httpx.post(
        url + "/api/v1/campaigns",
        json={"slug": "load", "rows": rows, "overlap": n_tokens},
        headers=h,
        timeout=30,
    )
    assert r.status_code == 201, r.text
    return [
        httpx.post(
            url + "/api/v1/tokens", json={"annotator": f"u{i}", "campaigns": ["load"]}, headers=h
        ).json()["token"]
        for i in range(n_tokens)
    ]


def _check_consistent(db: Path) -> None:
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        bad = conn.execute(
            "SELECT count(*) FROM svc_tasks t WHERE n_done != (SELECT count(*) FROM svc_answers a WHERE a.task_id = t.id AND a.status = 'done')"
        ).fetchone()[0]
        assert bad == 0


def test_sigkill_loses_no_acknowledged_vote(tmp_path: Path, server_factory: Any) -> None:
    db = tmp_path / "p.db"
    server = server_factory(db, "--rate", "100000").start()
    tokens = _setup(server.url, 400, 6)
    with sqlite3.connect(db) as conn:
        task_ids = [r[0] for r in conn.execute("SELECT id FROM svc_tasks ORDER BY id")]
    acked: list[tuple[str, int, int]] = []
    lock = threading.Lock()
    stop = threading.Event()

    def client(token: str, offset: int) -> None:
        with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=5) as c:
            for k, tid in enumerate(task_ids[offset:] + task_ids[:offset]):
                if stop.is_set():
                    return
                w = (tid + k) % 2
                try:
                    r = c.post(
                        "/api/v1/judgments",
                        json={"campaign": "load", "task_id": tid, "answer": {"overall": {"winner": w}}},
                    )
                except httpx.HTTPError:
                    return  # the server died mid-request: this vote was never acknowledged
                if r.status_code == 201:
                    with lock:
                        acked.append((token, tid, w))

    threads = [threading.Thread(target=client, args=(t, 50 * i)) for i, t in enumerate(tokens)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with lock:
            if len(acked) >= 300:
                break
        time.sleep(0.01)
    server.kill()  # SIGKILL in the middle of the load
    stop.set()
    for t in threads:
        t.join(timeout=30)
    assert len(acked) >= 300

    server.start()  # restart on the same file
    with sqlite3.connect(db) as conn:
        stored = {
            (tok, tid): ans
            for tok, tid, ans in conn.execute(
                "SELECT k.token_hash, a.task_id, a.answer FROM svc_answers a JOIN svc_tokens k ON k.id = a.token_id"
            )
        }
    missing = [(tok[:6], tid) for tok, tid, w in acked if (_h(tok), tid) not in stored]
    assert not missing, f"{len(missing)} acknowledged votes lost, e.g. {missing[:5]}"
    assert all(f'"winner": {w}' in stored[(_h(tok), tid)] for tok, tid, w in acked)
    _check_consistent(db)
    # every stored answer is also a core judgment, exactly once (copied before the kill or at the restart)
    with sqlite3.connect(db) as conn:
        token_id = dict(conn.execute("SELECT token_hash, id FROM svc_tokens"))
        core = conn.execute("SELECT id, outcome FROM pairwise").fetchall()
    ids = [i for i, _ in core]
    assert len(ids) == len(set(ids)) == len(stored)
    outcome = dict(core)
    for tok, tid, w in acked:
        assert outcome[f"campaign/load/{tid}/{token_id[_h(tok)]}/overall"] == w  # winner 0 -> a, 1 -> b
    # the restarted server answers; a re-submission of an acknowledged vote is a duplicate, not a second row
    tok, tid, w = acked[0]
    r = httpx.post(
        server.url + "/api/v1/judgments",
        json={"campaign": "load", "task_id": tid, "answer": {"overall": {"winner": w}}},
        headers={"Authorization": f"Bearer {tok}"},
    )
    assert r.status_code == 201 and r.json()["duplicate"] is True


def test_concurrent_conflicting_submissions(tmp_path: Path, server_factory: Any) -> None:
    db = tmp_path / "c.db"
    server = server_factory(db, "--rate", "100000").start()
    tokens = _setup(server.url, 10, 3)
    with sqlite3.connect(db) as conn:
        task_ids = [r[0] for r in conn.execute("SELECT id FROM svc_tasks ORDER BY id")]
    results: list[tuple[str, int, int, int]] = []
    lock = threading.Lock()

    def client(token: str, w: int) -> None:
        with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=10) as c:
            for tid in task_ids:
                r = c.post(
                    "/api/v1/judgments",
                    json={"campaign": "load", "task_id": tid, "answer": {"overall": {"winner": w}}},
                )
                with lock:
                    results.append((token, tid, w, r.status_code))

    # every token submits every task from 4 threads at once: two with answer 0, two with answer 1
    threads = [threading.Thread(target=client, args=(t, w)) for t in tokens for w in (0, 0, 1, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert {code for *_, code in results} <= {201, 409}
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT k.token_hash, a.task_id, a.answer FROM svc_answers a JOIN svc_tokens k ON k.id = a.token_id"
        ).fetchall()
    assert len(rows) == len(tokens) * len(task_ids)  # exactly one answer per (annotator, task)
    stored = {(tok, tid): ans for tok, tid, ans in rows}
    for tok, tid, w, code in results:
        agrees = f'"winner": {w}' in stored[(_h(tok), tid)]
        assert agrees == (
            code == 201
        )  # 201 exactly for the stored answer (first or duplicate), 409 otherwise
    _check_consistent(db)
