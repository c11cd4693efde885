"""Regression tests for the defects a probe of the web app found (issue 16): each failed before its fix."""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from prefkit.service import Settings, create_app

from .conftest import ADMIN, Env, sign_in

HTML = {"accept": "text/html"}
ROWS = [{"id": f"q{i}", "context": f"question {i}", "candidates": ["a", "b", "c"]} for i in range(3)]
ARENA_ROWS = [
    {"id": f"p{i}", "prompt": f"prompt {i}", "outputs": {"m1": "x", "m2": "y", "m3": "z"}} for i in range(3)
]


# ---- unknown arena policy: refused before any write; a broken row does not stop the server -------------


def test_unknown_policy_is_refused_before_anything_is_written(env: Env) -> None:
    h = env.h(env.admin)
    r = env.client.post(
        "/api/v1/arenas", json={"slug": "bogus", "policy": "bogus", "rows": ARENA_ROWS}, headers=h
    )
    assert r.status_code == 400 and "bogus" in r.json()["error"]["message"]
    assert env.client.get("/api/v1/arenas/bogus/match", headers=h).status_code == 404
    # the admin form too
    r = env.client.post(
        "/admin/arenas",
        data={"slug": "bogus2", "policy": "bogus", "k": "2"},
        files={"file": ("a.jsonl", "\n".join(json.dumps(x) for x in ARENA_ROWS).encode())},
        headers=h,
    )
    assert r.status_code == 400
    # elo deals pairs only: K = 3 with it is refused the same way
    r = env.client.post(
        "/api/v1/arenas", json={"slug": "e3", "policy": "elo", "k": 3, "rows": ARENA_ROWS}, headers=h
    )
    assert r.status_code == 400
    with sqlite3.connect(env.app.state.svc.settings.db_path) as conn:
        slugs = {s for (s,) in conn.execute("SELECT slug FROM svc_arenas")}
    assert not slugs & {"bogus", "bogus2", "e3"}


def test_server_starts_with_broken_rows_and_serves_the_rest(
    env: Env, tmp_path: Path, server_factory: Any
) -> None:
    db = env.app.state.svc.settings.db_path
    env.client.close()
    with sqlite3.connect(db) as conn:  # rows as an older version (or a hand edit) could leave them
        conn.execute(
            "INSERT INTO svc_arenas(slug, name, k, config, models, created_at) "
            "VALUES ('old', 'old', 2, '{\"policy\": \"bogus\"}', '[\"a\", \"b\"]', 0)"
        )
        conn.execute(
            "INSERT INTO svc_campaigns(slug, name, shape, config, guidelines, created_at) "
            "VALUES ('oldc', 'oldc', 'pairwise', '{\"shape\": \"pairwise\", \"nope\": 1}', '', 0)"
        )
    server = server_factory(db).start()  # `prefkit serve` used to exit 2 here
    h = {"Authorization": f"Bearer {ADMIN}"}
    assert httpx.get(server.url + "/api/v1/arenas/demo-arena/match", headers=h).status_code == 200
    r = httpx.get(server.url + "/api/v1/arenas/old/match", headers=h)
    assert r.status_code == 503 and "bogus" in r.json()["error"]["message"]
    r = httpx.get(server.url + "/admin", headers={**h, **HTML})
    assert r.status_code == 200 and "demo-arena" in r.text and "demo-pairwise" in r.text
    assert "&#39;old&#39;" in r.text and "&#39;oldc&#39;" in r.text  # the broken rows are reported, by name


# ---- untrusted Markdown: no same-origin GETs, no external loads; sign-in/out are POSTs ------------------


def test_markdown_images_load_only_allowed_media(env: Env) -> None:
    from prefkit.service.render import render_markdown

    for src in (
        "/logout",
        "/join/SOMETOKEN",
        "/static/../logout",
        "/static/%2e%2e/logout",
        "/static//evil.example/x.png",
        "//evil.example/pixel.gif",
        "https://evil.example/pixel.gif",
        "http://tracker.example/p.png?u=1",
        "\\\\evil.example/x",
    ):
        html = render_markdown(f"![x]({src})")
        assert "src=" not in html, (src, html)
    assert 'src="/static/demo-sunset.svg"' in render_markdown("![x](/static/demo-sunset.svg)")
    allowed = render_markdown("![x](https://cdn.example.org/a.png)", ["https://cdn.example.org"])
    assert 'src="https://cdn.example.org/a.png"' in allowed
    # campaign media paths are normalised: /static/../logout is refused at upload
    r = env.client.post(
        "/api/v1/campaigns",
        json={"slug": "m", "rows": [{"candidates": [{"image": "/static/../logout"}, "b"]}]},
        headers=env.h(env.admin),
    )
    assert r.status_code == 400 and "/static/" in r.json()["error"]["message"]
    # the policy: images and media from this site (and allowed origins) only
    csp = env.client.get("/healthz").headers["content-security-policy"]
    img = re.search(r"img-src ([^;]+)", csp).group(1)  # type: ignore[union-attr]
    assert "http:" not in img and "https:" not in img and "data:" not in img


def test_signing_in_and_out_are_not_get_side_effects(env: Env) -> None:
    c = env.client
    assert sign_in(c, "", env.annotator).status_code == 200
    assert c.get("/", headers=HTML).status_code == 200
    # what an <img src="/logout"> or <img src="/join/ATTACKER"> would do: nothing
    assert c.get("/logout", headers=HTML).status_code in (404, 405)
    attacker = env.invite("attacker", ["demo-pairwise"])
    c.get(f"/join/{attacker}", headers=HTML)
    assert "Hello, demo-annotator" in c.get("/", headers=HTML).text
    # a cross-site form post cannot sign the visitor in as the attacker (login CSRF): no nonce cookie, or wrong origin
    r = c.post("/join", data={"token": attacker, "nonce": "guess"}, headers=HTML)
    assert r.status_code == 403
    r = c.post(
        "/join", data={"token": attacker, "nonce": "x"}, headers={**HTML, "origin": "https://evil.example"}
    )
    assert r.status_code == 403
    assert "Hello, demo-annotator" in c.get("/", headers=HTML).text
    # sign-out is a POST with the CSRF token
    assert c.post("/logout", headers=HTML).status_code == 403
    page = c.get("/", headers=HTML).text
    csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', page).group(1)  # type: ignore[union-attr]
    r = c.post("/logout", data={"csrf": csrf}, headers=HTML, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/goodbye"


# ---- the 500s ------------------------------------------------------------------------------------------


def _ranking(env: Env, slug: str, allow_tie: bool) -> tuple[str, int]:
    r = env.client.post(
        "/api/v1/campaigns",
        json={"slug": slug, "shape": "ranking", "allow_tie": allow_tie, "overlap": 1, "rows": ROWS},
        headers=env.h(env.admin),
    )
    assert r.status_code == 201, r.text
    tok = env.invite(f"u-{slug}", [slug])
    return tok, env.client.get(f"/api/v1/campaigns/{slug}/tasks/next", headers=env.h(tok)).json()["task_id"]


def test_ranking_tie_groups_are_accepted_when_ties_are_allowed(env: Env) -> None:
    tok, tid = _ranking(env, "rt", allow_tie=True)
    for bad in ("abc", None, [[0, 1], 1], [[0, "x"], 2], [[], 0, 1, 2], 7):
        r = env.client.post(
            "/api/v1/judgments",
            json={"campaign": "rt", "task_id": tid, "answer": {"overall": {"order": bad}}},
            headers=env.h(tok),
        )
        assert r.status_code == 422, (bad, r.text)
    r = env.client.post(
        "/api/v1/judgments",
        json={"campaign": "rt", "task_id": tid, "answer": {"overall": {"order": [[1, 0], 2]}}},
        headers=env.h(tok),
    )
    assert r.status_code == 201, r.text
    # the core table holds the tie: levels [0, 0, 1] (the README's ranking row with a tie group)
    out = env.client.get("/api/v1/campaigns/rt/export?format=jsonl", headers=env.h(env.admin)).text
    ranking = next(r["ranking"] for r in map(json.loads, out.splitlines()) if r["type"] == "ranking")
    assert isinstance(ranking[0], list) and sorted(ranking[0]) == ["rt/q0/c1", "rt/q0/c2"]
    assert ranking[1] == "rt/q0/c3"
    # ties not allowed: 422, with the reason
    tok, tid = _ranking(env, "rn", allow_tie=False)
    r = env.client.post(
        "/api/v1/judgments",
        json={"campaign": "rn", "task_id": tid, "answer": {"overall": {"order": [[0, 1], 2]}}},
        headers=env.h(tok),
    )
    assert r.status_code == 422 and "ties" in r.json()["error"]["message"]


def test_winner_true_is_not_one(env: Env) -> None:
    tok = env.invite("bool", ["demo-pairwise"])
    t = env.client.get("/api/v1/campaigns/demo-pairwise/tasks/next", headers=env.h(tok)).json()
    for w in (True, False, 1.0, "1"):
        r = env.client.post(
            "/api/v1/judgments",
            json={"campaign": "demo-pairwise", "task_id": t["task_id"], "answer": {"overall": {"winner": w}}},
            headers=env.h(tok),
        )
        assert r.status_code == 422, w


def _upload(env: Env, data: bytes) -> httpx.Response:
    return env.client.post(  # type: ignore[no-any-return]
        "/admin/campaigns",
        data={"slug": "up", "shape": "pairwise", "overlap": "1"},
        files={"file": ("rows.jsonl", data)},
        headers=env.h(env.admin),
        follow_redirects=False,
    )


def test_uploads_in_bad_encodings_or_nesting_are_clean_errors(env: Env) -> None:
    good = "\n".join(json.dumps(r, ensure_ascii=False) for r in ROWS) + "\n"
    r = _upload(env, good.encode() + b'{"candidates": ["\xff\xfe", "b"]}\n')
    assert (
        r.status_code == 400
        and "UTF-8" in r.json()["error"]["message"]
        and ":4:" in r.json()["error"]["message"]
    )
    deep = "[" * 100_000 + "]" * 100_000
    r = _upload(env, (good + deep + "\n").encode())
    assert r.status_code == 400 and ":4:" in r.json()["error"]["message"]
    # UTF-16 with its byte-order mark is read (as a spreadsheet saves it)
    r = _upload(env, ("\ufeff" + good.replace("question 0", "quêstion 0")).encode("utf-16-le"))
    assert r.status_code == 303, r.text
    # a deeply nested JSON body to the API is a 4xx too (FastAPI and the fast lane)
    for path in ("/api/v1/campaigns", "/api/v1/judgments"):
        body = '{"slug": "deep", "rows": ' + "[" * 50_000 + "]" * 50_000 + "}"
        r = env.client.post(
            path, content=body, headers={**env.h(env.admin), "content-type": "application/json"}
        )
        assert 400 <= r.status_code < 500, (path, r.status_code)


def test_ids_above_sqlites_range_are_422(env: Env) -> None:
    huge = "99999999999999999999"
    h = env.h(env.admin)
    assert env.client.post(f"/admin/tokens/{huge}/revoke", headers=h).status_code == 422
    assert env.client.delete(f"/api/v1/tokens/{huge}", headers=h).status_code == 422
    r = env.client.post(
        "/api/v1/judgments",
        json={"campaign": "demo-pairwise", "task_id": int(huge), "answer": {"overall": {"winner": 0}}},
        headers=h,
    )
    assert r.status_code == 422
    assert env.client.post(f"/c/demo-pairwise/tasks/{huge}", headers=h, data={"c0": "0"}).status_code == 422


def test_vote_bodies_have_their_own_small_limit(env: Env) -> None:
    big = b'{"match": "x", "ranks": [0, 1], "pad": "' + b"x" * 10_000_000 + b'"}'
    for headers in (
        {**env.h(env.admin), "content-type": "application/json"},  # the fast lane
        {**env.h(env.admin), "content-type": "text/plain"},  # FastAPI
    ):
        r = env.client.post("/api/v1/arenas/demo-arena/votes", content=big, headers=headers)
        assert r.status_code == 413, headers
    # the arena upload route (exact path) keeps the upload limit
    r = env.client.post(
        "/api/v1/arenas", json={"slug": "ok", "rows": ARENA_ROWS, "name": "n" * 100}, headers=env.h(env.admin)
    )
    assert r.status_code == 201


# ---- blocking work ---------------------------------------------------------------------------------------


def test_creating_a_large_campaign_does_not_stall_healthz(tmp_path: Path, server_factory: Any) -> None:
    server = server_factory(tmp_path / "big.db").start()
    rows = [{"id": f"q{i}", "context": f"c{i}", "candidates": ["a", "b"]} for i in range(100_000)]
    body = json.dumps({"slug": "big", "overlap": 1, "rows": rows}).encode()
    result: dict[str, Any] = {}

    def create() -> None:
        r = httpx.post(
            server.url + "/api/v1/campaigns",
            content=body,
            headers={"Authorization": f"Bearer {ADMIN}", "content-type": "application/json"},
            timeout=300,
        )
        result["status"] = r.status_code
        result["done"] = time.monotonic()

    t = threading.Thread(target=create)
    t.start()
    answered = []
    while t.is_alive():
        r = httpx.get(server.url + "/healthz", timeout=60)
        if r.status_code == 200 and t.is_alive():
            answered.append(time.monotonic())
        time.sleep(0.05)
    t.join()
    assert result["status"] == 201
    # /healthz kept answering while the campaign was being created (before: not once until it was done)
    assert len(answered) >= 3, answered


# ---- tokens ----------------------------------------------------------------------------------------------


def test_tokens_are_stored_hashed_and_shown_once(env: Env) -> None:
    tok = env.invite("hashme", ["demo-pairwise"])
    with sqlite3.connect(env.app.state.svc.settings.db_path) as conn:
        rows = conn.execute("SELECT secret, token_hash FROM svc_tokens").fetchall()
    assert all(secret == "" for secret, _ in rows)
    assert hashlib.sha256(tok.encode()).hexdigest() in {h for _, h in rows}
    admin = env.client.get("/admin", headers={**env.h(env.admin), **HTML}).text
    assert tok not in admin and env.annotator not in admin
    # the admin form shows the new link in its response, not in a redirect URL
    page = env.client.get("/admin", headers={**env.h(env.admin), **HTML}).text
    r = env.client.post(
        "/admin/tokens",
        data={"annotator": "formuser", "campaigns": "demo-pairwise"},
        headers={**env.h(env.admin), **HTML},
        follow_redirects=False,
    )
    assert r.status_code == 200 and "link=" not in r.headers.get("location", "")
    link = re.search(r'id="new-link">[^<]*/join/([^<]+)</code>', r.text).group(1)  # type: ignore[union-attr]
    assert (
        env.client.get("/api/v1/campaigns/demo-pairwise/tasks/next", headers=env.h(link)).status_code == 200
    )
    assert link not in env.client.get("/admin", headers={**env.h(env.admin), **HTML}).text
    assert page  # (the page before)
    # revoking through the API
    tid = int(re.search(r"<td>(\d+)</td><td>formuser</td>", r.text).group(1))  # type: ignore[union-attr]
    assert env.client.delete(f"/api/v1/tokens/{tid}", headers=env.h(env.admin)).status_code == 204
    assert (
        env.client.get("/api/v1/campaigns/demo-pairwise/tasks/next", headers=env.h(link)).status_code == 401
    )
    assert env.client.delete("/api/v1/tokens/99999", headers=env.h(env.admin)).status_code == 404


def test_secure_cookie_option(tmp_path: Path) -> None:
    app = create_app(Settings(db_path=tmp_path / "s.db", admin_token=ADMIN, secure_cookies=True))
    with TestClient(app, base_url="http://testserver") as c:
        r = c.get(f"/join/{ADMIN}", headers=HTML)
        assert "secure" in r.headers["set-cookie"].lower()
        nonce = re.search(r'name="nonce" value="([^"]+)"', r.text).group(1)  # type: ignore[union-attr]
        c.cookies.clear()  # (a Secure cookie does not travel over this test's plain http: send it by hand)
        r = c.post(
            "/join",
            data={"token": ADMIN, "nonce": nonce},
            headers={**HTML, "cookie": f"prefkit_login={nonce}"},
            follow_redirects=False,
        )
        assert r.status_code == 303
        cookie = r.headers["set-cookie"].lower()
        assert "prefkit_token" in cookie and "secure" in cookie


@pytest.mark.parametrize("path", ["/admin/campaigns", "/api/v1/arenas"])
def test_upload_limit_is_exact_path(env: Env, path: str) -> None:
    limits = env.app.fast_lane
    assert limits.limit(path) == env.app.state.svc.settings.max_upload_bytes
    assert limits.limit(path + "/x/votes") < limits.limit(path)
