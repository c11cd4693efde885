"""UX that lost work (issue 16): overlap under concurrency, undo window, skips not counted, refused forms
re-rendered with the message, untouched K-wise rankings not submittable."""

from __future__ import annotations

import re

from .conftest import Env

HTML = {"accept": "text/html"}
ROWS = [{"id": f"q{i}", "context": f"question {i}", "candidates": ["a", "b", "c"]} for i in range(2)]


def test_overlap_holds_when_five_annotators_answer_one_task(env: Env) -> None:
    h = env.h(env.admin)
    r = env.client.post("/api/v1/campaigns", json={"slug": "o1", "overlap": 1, "rows": ROWS}, headers=h)
    assert r.status_code == 201
    toks = [env.invite(f"o{i}", ["o1"]) for i in range(5)]
    first = env.client.get("/api/v1/campaigns/o1/tasks/next", headers=env.h(toks[0])).json()["task_id"]
    dealt = [env.client.get("/api/v1/campaigns/o1/tasks/next", headers=env.h(t)) for t in toks[1:]]
    assert all(r.status_code == 204 or r.json()["task_id"] != first for r in dealt)  # leased: not dealt again
    codes = [
        env.client.post(
            "/api/v1/judgments",
            json={"campaign": "o1", "task_id": first, "answer": {"overall": {"winner": 0}}},
            headers=env.h(t),
        ).status_code
        for t in toks
    ]
    assert codes.count(201) == 1 and codes.count(409) == 4, codes  # (before: five 201s)


def test_undo_window_and_skips_not_counted(env: Env) -> None:
    tok = env.invite("u", ["demo-pairwise"])
    t = env.client.get("/api/v1/campaigns/demo-pairwise/tasks/next", headers=env.h(tok)).json()
    body = {"campaign": "demo-pairwise", "task_id": t["task_id"], "answer": {"overall": {"winner": 0}}}
    aid = env.client.post("/api/v1/judgments", json=body, headers=env.h(tok)).json()["id"]
    r = env.client.post(f"/api/v1/judgments/{aid}/undo?campaign=demo-pairwise", headers=env.h(tok))
    assert r.status_code == 204
    # the task comes back, and a different answer is accepted (before: 409, answers were final at once)
    assert (
        env.client.get("/api/v1/campaigns/demo-pairwise/tasks/next", headers=env.h(tok)).json()["task_id"]
        == t["task_id"]
    )
    body["answer"] = {"overall": {"winner": 1}}
    aid = env.client.post("/api/v1/judgments", json=body, headers=env.h(tok)).json()["id"]
    svc = env.app.state.svc
    svc.writer.call(svc.core.sync_all)  # an export makes it final
    r = env.client.post(f"/api/v1/judgments/{aid}/undo?campaign=demo-pairwise", headers=env.h(tok))
    assert r.status_code == 409
    # another annotator cannot take it back
    other = env.invite("u2", ["demo-pairwise"])
    r = env.client.post(f"/api/v1/judgments/{aid}/undo?campaign=demo-pairwise", headers=env.h(other))
    assert r.status_code == 404
    # a skip is not an answer on the home page
    t = env.client.get("/api/v1/campaigns/demo-pairwise/tasks/next", headers=env.h(tok)).json()
    env.client.post(
        "/api/v1/judgments",
        json={"campaign": "demo-pairwise", "task_id": t["task_id"], "skip": True},
        headers=env.h(tok),
    )
    env.client.cookies.set("prefkit_token", tok)
    home = env.client.get("/", headers=HTML).text
    assert "You answered 1;" in home  # one answer, one skip (before: 2)


def test_refused_form_comes_back_with_the_message_and_kwise_needs_interaction(env: Env) -> None:
    env.client.cookies.set("prefkit_token", env.annotator)
    page = env.client.get("/c/demo-ranking", headers=HTML).text
    assert re.search(r'name="o0" value=""', page)  # not pre-ranked
    csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', page).group(1)  # type: ignore[union-attr]
    action = re.search(r'action="(/c/demo-ranking/tasks/\d+)"', page).group(1)  # type: ignore[union-attr]
    r = env.client.post(action, data={"csrf": csrf, "o0": "", "rationale": "my careful notes"}, headers=HTML)
    assert r.status_code == 422 and "rank the responses" in r.text and "my careful notes" in r.text
    assert 'id="task-form"' in r.text  # the form again, not a dead-end error page
    # the tie syntax through the form: 0 and 1 tied first (ties allowed by default)
    r = env.client.post(action, data={"csrf": csrf, "o0": "0=1,2"}, headers=HTML, follow_redirects=False)
    assert r.status_code == 303 and "saved=1" in r.headers["location"]
