"""Tokens, access scopes, CSRF, size and rate limits, error pages, sanitised Markdown, parametrised SQL."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from prefkit.service import Settings, create_app
from prefkit.service.render import render_markdown

from .conftest import ADMIN, Env

HTML = {"accept": "text/html"}


def test_admin_routes_need_the_admin_token(env: Env) -> None:
    c = env.client
    for method, path in [
        ("GET", "/admin"),
        ("GET", "/admin/campaigns/demo-pairwise"),
        ("GET", "/api/v1/campaigns/demo-pairwise/export"),
        ("GET", "/api/v1/campaigns/demo-pairwise/agreement"),
        ("POST", "/api/v1/tokens"),
        ("POST", "/api/v1/campaigns"),
    ]:
        assert c.request(method, path).status_code == 401, path
        assert c.request(method, path, headers=env.h("wrong-token")).status_code == 401, path
        r = c.request(method, path, headers=env.h(env.annotator), json={})
        assert r.status_code == 403, path
        assert set(r.json()) == {"error"}


def test_annotator_sees_only_its_campaigns(env: Env) -> None:
    r = env.client.post(
        "/api/v1/campaigns",
        json={"slug": "secret", "rows": [{"candidates": ["a", "b"]}]},
        headers=env.h(env.admin),
    )
    assert r.status_code == 201
    tok = env.invite("limited", ["demo-pairwise"])
    h = env.h(tok)
    assert env.client.get("/api/v1/campaigns/demo-pairwise/tasks/next", headers=h).status_code == 200
    assert env.client.get("/api/v1/campaigns/secret/tasks/next", headers=h).status_code == 403
    assert env.client.get("/api/v1/arenas/demo-arena/match", headers=h).status_code == 403
    assert env.client.get("/api/v1/arenas/demo-arena/leaderboard", headers=h).status_code == 403
    # a task of another campaign cannot be answered through a granted one
    other = env.client.get("/api/v1/campaigns/secret/tasks/next", headers=env.h(env.admin)).json()["task_id"]
    r = env.client.post(
        "/api/v1/judgments",
        json={"campaign": "demo-pairwise", "task_id": other, "answer": {"overall": {"winner": 0}}},
        headers=h,
    )
    assert r.status_code == 404
    env.client.cookies.set("prefkit_token", tok)
    assert "secret" not in env.client.get("/", headers=HTML).text


def test_revoked_token_is_refused(env: Env) -> None:
    tok = env.invite("gone", ["demo-pairwise"])
    env.client.cookies.set("prefkit_token", env.admin)
    page = env.client.get("/admin", headers=HTML).text
    csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', page).group(1)  # type: ignore[union-attr]
    token_id = re.findall(r"/admin/tokens/(\d+)/revoke", page)[-1]
    assert (
        env.client.post(
            f"/admin/tokens/{token_id}/revoke", data={"csrf": csrf}, follow_redirects=False
        ).status_code
        == 303
    )
    env.client.cookies.clear()
    assert env.client.get("/api/v1/campaigns/demo-pairwise/tasks/next", headers=env.h(tok)).status_code == 401


def test_invite_link_sets_a_strict_cookie(env: Env) -> None:
    # opening the link signs nothing in (a GET has no side effect); the button's POST does
    r = env.client.get(f"/join/{env.annotator}", headers=HTML, follow_redirects=False)
    assert r.status_code == 200 and "prefkit_token" not in r.headers.get("set-cookie", "")
    nonce = re.search(r'name="nonce" value="([^"]+)"', r.text).group(1)  # type: ignore[union-attr]
    r = env.client.post(
        "/join", data={"token": env.annotator, "nonce": nonce}, headers=HTML, follow_redirects=False
    )
    assert r.status_code == 303
    cookie = r.headers["set-cookie"].lower()
    assert "prefkit_token" in cookie and "httponly" in cookie and "samesite=strict" in cookie
    assert "secure" not in cookie  # plain http on loopback; see test_secure_cookie_option
    assert env.client.get("/join/not-a-token", headers=HTML).status_code == 401


def _form_csrf(env: Env, path: str) -> tuple[str, str]:
    page = env.client.get(path, headers=HTML).text
    action = re.search(r'id="task-form"[^>]*|action="(/c/[^"]+)"', page)
    csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', page).group(1)  # type: ignore[union-attr]
    action = re.search(r'action="(/c/demo-pairwise/tasks/\d+)"', page).group(1)  # type: ignore[union-attr]
    return action, csrf


def test_csrf_on_cookie_form_posts(env: Env) -> None:
    env.client.cookies.set("prefkit_token", env.annotator)
    action, csrf = _form_csrf(env, "/c/demo-pairwise")
    assert env.client.post(action, data={"c0": "0"}, headers=HTML).status_code == 403
    assert env.client.post(action, data={"c0": "0", "csrf": "0" * 32}, headers=HTML).status_code == 403
    r = env.client.post(
        action, data={"c0": "0", "csrf": csrf}, headers={**HTML, "origin": "https://evil.example"}
    )
    assert r.status_code == 403
    r = env.client.post(
        action,
        data={"c0": "0", "csrf": csrf},
        headers={**HTML, "origin": "http://testserver"},
        follow_redirects=False,
    )
    assert r.status_code == 303 and "saved=1&answer=" in r.headers["location"]


def test_body_limits(env: Env) -> None:
    big = {
        "campaign": "demo-pairwise",
        "task_id": 1,
        "answer": {"overall": {"winner": 0}},
        "rationale": "x" * 300_000,
    }
    r = env.client.post("/api/v1/judgments", json=big, headers=env.h(env.annotator))
    assert r.status_code == 413
    # uploads have their own (larger) limit
    app = create_app(
        Settings(
            db_path=env.app.state.svc.settings.db_path,
            admin_token=ADMIN,
            max_body_bytes=2048,
            max_upload_bytes=4096,
        )
    )
    with TestClient(app) as c:
        rows = [{"candidates": ["a" * 100, "b"]}] * 20
        assert (
            c.post(
                "/api/v1/campaigns", json={"slug": "up1", "rows": rows[:10]}, headers=env.h(ADMIN)
            ).status_code
            == 201
        )
        assert (
            c.post(
                "/api/v1/campaigns", json={"slug": "up2", "rows": rows * 3}, headers=env.h(ADMIN)
            ).status_code
            == 413
        )


def test_rate_limit_per_token(tmp_path: Path) -> None:
    app = create_app(Settings(db_path=tmp_path / "r.db", admin_token=ADMIN, rate_per_s=1.0, rate_burst=5))
    with TestClient(app) as c:
        codes = [
            c.get(
                "/api/v1/campaigns/none/tasks/next", headers={"Authorization": f"Bearer {ADMIN}"}
            ).status_code
            for _ in range(8)
        ]
        assert codes[:5] == [404] * 5 and codes[-1] == 429
        r = c.get("/api/v1/campaigns/none/tasks/next", headers={"Authorization": f"Bearer {ADMIN}"})
        assert "retry-after" in r.headers


def test_errors_are_clean_pages_never_tracebacks(env: Env) -> None:
    env.client.cookies.set("prefkit_token", env.annotator)
    for path in ("/c/no-such-campaign", "/a/no-such-arena", "/nowhere", "/c/demo-pairwise/tasks/abc"):
        r = env.client.get(path, headers=HTML)
        assert r.status_code in (404, 405, 422) and "<h1>" in r.text and "Traceback" not in r.text, path
    r = env.client.post(
        "/api/v1/judgments",
        content=b"{not json",
        headers={**env.h(env.annotator), "content-type": "application/json"},
    )
    assert r.status_code == 422 and "Traceback" not in r.text and set(r.json()) == {"error"}


def test_unexpected_errors_become_500_without_traceback(tmp_path: Path) -> None:
    app = create_app(Settings(db_path=tmp_path / "e.db", admin_token=ADMIN))

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret internal detail")

    with TestClient(app, raise_server_exceptions=False) as c:
        r = c.get("/boom", headers=HTML)
    assert r.status_code == 500 and "secret internal detail" not in r.text and "Traceback" not in r.text


def test_security_headers(env: Env) -> None:
    r = env.client.get("/docs")
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "object-src 'none'" in csp
    assert r.headers["x-frame-options"] == "DENY" and r.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize(
    "payload",
    [
        "<script>alert(1)</script>",
        '<img src=x onerror="alert(1)">',
        "[x](javascript:alert(1))",
        '<svg onload="alert(1)"><script>alert(1)</script></svg>',
        '<a href="JaVaScRiPt:alert(1)">x</a>',
        "![x](javascript:alert(1))",
        "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
        '<iframe src="https://evil.example"></iframe>',
    ],
)
def test_markdown_is_sanitised(payload: str) -> None:
    from html.parser import HTMLParser

    found: list[tuple[str, list[tuple[str, str | None]]]] = []

    class Collect(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            found.append((tag, attrs))

    Collect().feed(render_markdown(payload))
    for tag, attrs in found:
        assert tag not in ("script", "svg", "iframe", "object", "embed", "style")
        for name, value in attrs:
            assert not name.startswith("on")
            if name in ("href", "src"):
                assert (value or "").lower().startswith(("http://", "https://", "mailto:")), value


def test_markdown_keeps_formatting() -> None:
    html = render_markdown("**bold** and `code`\n\n```python\nx = 1\n```\n\n[ok](https://example.org)")
    assert (
        "<strong>bold</strong>" in html
        and "<pre><code" in html
        and 'href="https://example.org"' in html
        and "noopener" in html
    )


def test_sql_injection_attempts_are_data(env: Env) -> None:
    evil = "x'); DROP TABLE svc_answers; --"
    tok = env.invite(evil, ["demo-pairwise"])
    r = env.client.get("/api/v1/campaigns/demo-pairwise/tasks/next", headers=env.h(tok))
    assert r.status_code == 200
    assert (
        env.client.get("/api/v1/campaigns/x' OR '1'='1/tasks/next", headers=env.h(env.admin)).status_code
        == 404
    )
    import prefkit.service.repo as repo_mod

    src = Path(repo_mod.__file__).read_text()
    # the only f-strings inside SQL interpolate the module constants _TASK_COLS and _GOLD, never a value
    for m in re.finditer(r'execute\(\s*f"([^"]*)"', src):
        assert re.sub(r"\{_(TASK_COLS|GOLD)\}", "", m.group(1)).count("{") == 0
