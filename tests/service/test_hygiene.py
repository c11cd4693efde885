"""Arena vote hygiene: the stuffing attack of issue 16 (fetch matches until the worst model shows up, vote it
first, discard the rest) no longer puts the worst model first; honest voters are not flagged; caps hold."""

from __future__ import annotations

import json
from typing import Any

import pytest

from prefkit.service.hygiene import Hygiene

from .conftest import Env

MODELS = ["atlas-70b", "borealis-13b", "cirrus-7b", "dune-3b", "ember-1b"]  # the demo's models, best first
WORST = MODELS[-1]
ROWS = [
    {"id": f"q{j}", "prompt": f"question {j}", "outputs": {m: f"{m} answers question {j}" for m in MODELS}}
    for j in range(8)
]


def _shown(match: dict[str, Any]) -> list[str]:
    """Which model wrote each shown output (the attacker knows the published outputs)."""
    return [next(m for m in MODELS if out.startswith(m)) for out in match["outputs"]]


def _honest(env: Env, token: str, n: int) -> None:
    for _ in range(n):
        m = env.client.get("/api/v1/arenas/stuff/match", headers=env.h(token)).json()
        ranks = [MODELS.index(x) for x in _shown(m)]  # the truth: the file's order
        ranks = [sorted(ranks).index(r) for r in ranks]
        r = env.client.post(
            "/api/v1/arenas/stuff/votes", json={"match": m["match"], "ranks": ranks}, headers=env.h(token)
        )
        assert r.status_code == 201, r.text


def _attack(env: Env, token: str, deals: int) -> int:
    """The probe's attack; returns the number of its votes acknowledged."""
    votes = 0
    for _ in range(deals):
        r = env.client.get("/api/v1/arenas/stuff/match", headers=env.h(token))
        if r.status_code != 200:  # capped
            break
        m = r.json()
        shown = _shown(m)
        if WORST not in shown:
            continue  # discard: fetch another match
        ranks = [0 if x == WORST else 1 for x in shown]
        r = env.client.post(
            "/api/v1/arenas/stuff/votes", json={"match": m["match"], "ranks": ranks}, headers=env.h(token)
        )
        votes += r.status_code == 201
    return votes


@pytest.mark.parametrize("k", [2, 3])
def test_stuffing_no_longer_puts_the_worst_model_first(env: Env, k: int) -> None:
    # random K-subsets (LMArena's baseline): the worst model is shown in a known share of matches
    body = {"slug": "stuff", "k": k, "rows": ROWS, "policy": "random"}
    assert env.client.post("/api/v1/arenas", json=body, headers=env.h(env.admin)).status_code == 201
    honest = [env.invite(f"honest{i}", arenas=["stuff"]) for i in range(2)]
    for tok in honest:
        _honest(env, tok, 8)
    attacker = env.invite("stuffer", arenas=["stuff"])
    votes = _attack(env, attacker, 300)
    assert votes >= 60  # the attack ran (and was acknowledged: the flagged votes are kept, not refused)
    boards = env.client.get("/api/v1/arenas/stuff/leaderboard", headers=env.h(env.admin)).json()
    for b in boards:  # the live skills and the batch Bradley-Terry fit
        names = [r["name"] for r in b["rows"]]
        assert names[0] != WORST and names.index(WORST) >= 3, names  # (before: first)
    # the admin page names the flagged token and why; honest voters are not flagged
    page = env.client.get("/admin", headers={**env.h(env.admin), "accept": "text/html"}).text
    assert "stuffer" in page and ("discarded" in page or "selectively" in page)
    assert "honest0" not in page.split('id="flags"')[1].split("</table>")[0]


def test_discards_count_against_the_cap() -> None:
    h = Hygiene(cap=5, flag_share=0.5, min_deals=100, n_models=3)
    for _ in range(5):
        h.deal(1, [0, 1])  # never voted: every deal still counts
    from prefkit.errors import PermissionDeniedError

    with pytest.raises(PermissionDeniedError, match="5 matches"):
        h.deal(1, [0, 1])
    h.deal(2, [0, 1])  # another token is not affected


def test_selective_voting_is_flagged_and_honest_voting_is_not() -> None:
    rng = __import__("numpy").random.default_rng(0)
    h = Hygiene(cap=10_000, flag_share=0.5, min_deals=20, n_models=5)
    for _ in range(300):  # an honest voter votes on every match it is dealt
        models = [int(x) for x in rng.choice(5, size=2, replace=False)]
        assert h.deal(1, models) is None
        h.voted(1, models)
    flagged = None
    for _ in range(300):  # a careful attacker: votes on every match with model 4, and on 75% of the others
        models = [int(x) for x in rng.choice(5, size=2, replace=False)]
        flagged = flagged or h.deal(2, models)
        if 4 in models or rng.random() < 0.75:
            h.voted(2, models)
    assert flagged is None  # (a gap of 25 points is under the 50-point threshold)
    for _ in range(300):  # a greedy one: only matches with model 4
        models = [int(x) for x in rng.choice(5, size=2, replace=False)]
        flagged = flagged or h.deal(3, models)
        if 4 in models:
            h.voted(3, models)
    assert flagged is not None and ("discarded" in flagged or "selectively" in flagged)
    assert not h.flagged(1) and not h.flagged(2) and h.flagged(3)
    assert json.dumps([a.__dict__ for a in h.activity()])  # plain data for the admin page


def test_match_tokens_do_not_reveal_the_models(env: Env) -> None:
    import base64
    import struct

    svc = env.app.state.svc
    m = env.client.get("/api/v1/arenas/demo-arena/match", headers=env.h(env.annotator)).json()
    tok = m["match"]
    raw = base64.urlsafe_b64decode(tok + "=" * (-len(tok) % 4))
    ticket = svc.open_match(tok)
    assert ticket is not None and len(ticket.models) == 2
    plain = struct.pack(">2I", *ticket.models)  # the packed ticket's models, as they would read in clear
    assert plain not in raw and ticket.nonce.encode() not in raw
    for part in (raw, raw[12:]):  # (a body of the ticket's JSON, models included, as in early versions)
        with pytest.raises(ValueError):
            json.loads(part)
    # tampering with any byte of the ciphertext, the IV or the tag breaks the signature
    for i in (0, 5, len(raw) // 2, len(raw) - 1):
        bad = bytearray(raw)
        bad[i] ^= 1
        assert svc.open_match(base64.urlsafe_b64encode(bytes(bad)).decode().rstrip("=")) is None
    for junk in ("", "x", "###", tok[:-4], tok + "AAAA"):
        assert svc.open_match(junk) is None
