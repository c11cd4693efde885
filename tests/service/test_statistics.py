"""The service's numbers are the library's: leaderboards equal prefkit.ranking's fit on the exported votes (and
choix / the two-item closed form); agreement equals the ``krippendorff`` package on the submitted answers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import choix
import krippendorff
import numpy as np
import pytest
from scipy.optimize import brentq
from scipy.special import expit

from prefkit.analysis.agreement import fleiss_kappa
from prefkit.data import io
from prefkit.data.convert import to_pairwise
from prefkit.ranking.leaderboard import Battles, build_leaderboard
from prefkit.ranking.scale import EloScale
from prefkit.service.arenas import BT_PRIOR
from prefkit.service.core import arena_source
from prefkit.storage.store import ProjectStore

from .conftest import Env


def _vote(env: Env, tok: str, slug: str, ranks_of: Any) -> None:
    """One match: ``ranks_of(outputs) -> ranks``."""
    m = env.client.get(f"/api/v1/arenas/{slug}/match", headers=env.h(tok)).json()
    ranks = [int(r) for r in ranks_of(m["outputs"])]
    r = env.client.post(
        f"/api/v1/arenas/{slug}/votes", json={"match": m["match"], "ranks": ranks}, headers=env.h(tok)
    )
    assert r.status_code == 201, r.text


def _exported(env: Env, slug: str, tmp_path: Path) -> Any:
    """The arena's votes as an exported prefkit JSONL file, read back."""
    svc = env.app.state.svc
    svc.writer.call(svc.core.sync_all)
    with ProjectStore(svc.settings.db_path, create=False) as store:
        ds = store.to_dataset(source=arena_source(slug))
    path = tmp_path / f"{slug}.jsonl"
    io.write(ds, path, format="prefkit")
    return io.read(path)


def _batch(env: Env, tok: str, slug: str) -> dict[str, dict[str, Any]]:
    boards = env.client.get(f"/api/v1/arenas/{slug}/leaderboard", headers=env.h(tok)).json()
    assert len(boards) == 2 and boards[1]["method"].startswith("Bradley-Terry")
    assert boards[1]["n_votes"] == boards[0]["n_votes"]
    return {r["name"]: r for r in boards[1]["rows"]}


@pytest.mark.parametrize(("slug", "k"), [("demo-kwise", 4), ("demo-arena", 2)])
def test_leaderboard_equals_the_ranking_fit_of_the_exported_votes(
    env: Env, tmp_path: Path, slug: str, k: int
) -> None:
    tok = env.invite("voter", arenas=[slug])
    rng = np.random.default_rng(7)
    for _ in range(40):
        _vote(env, tok, slug, lambda outs: rng.integers(0, k, size=len(outs)))  # ties included
    got = _batch(env, tok, slug)
    ds = _exported(env, slug, tmp_path)
    assert len(ds.pairwise) + len(ds.rankings) == 40
    pw = to_pairwise(ds).dataset.pairwise
    names = tuple(ds.items.names)
    lb = build_leaderboard(
        Battles(pw.a, pw.b, pw.outcome, names),
        method="bt",
        ci="sandwich",
        prior=BT_PRIOR,
        scale=EloScale(raw=True),
    )
    games = np.zeros(len(names), int)
    for r in range(len(ds.rankings)):
        games[ds.rankings.members[ds.rankings.offsets[r] : ds.rankings.offsets[r + 1]]] += 1
    np.add.at(games, ds.pairwise.a, 1)
    np.add.at(games, ds.pairwise.b, 1)
    assert set(got) >= set(names)
    for row in lb.rows():
        mine = got[row.name]
        assert mine["score"] == pytest.approx(row.rating, abs=1e-9)
        assert mine["lo"] == pytest.approx(row.lower, abs=1e-9)
        assert mine["hi"] == pytest.approx(row.upper, abs=1e-9)
        assert mine["rank"] == row.rank
        assert mine["games"] == games[names.index(row.name)]


def test_pairwise_leaderboard_matches_choix(env: Env, tmp_path: Path) -> None:
    """No ties: Bradley-Terry MAP with precision ``BT_PRIOR`` is choix's ``opt_pairwise`` with alpha = prior / 2."""
    tok = env.invite("voter", arenas=["demo-arena"])
    rng = np.random.default_rng(11)
    for _ in range(60):
        _vote(env, tok, "demo-arena", lambda outs: rng.permutation(2))
    got = _batch(env, tok, "demo-arena")
    ds = _exported(env, "demo-arena", tmp_path)
    pw = ds.pairwise
    assert len(pw) == 60 and not pw.is_tie.any()
    data = [
        (int(a), int(b)) if o == 0 else (int(b), int(a))
        for a, b, o in zip(pw.a, pw.b, pw.outcome, strict=True)
    ]
    theta = choix.opt_pairwise(len(ds.items), data, alpha=BT_PRIOR / 2, tol=1e-12)
    for code, name in enumerate(ds.items.names):
        assert got[name]["score"] == pytest.approx(theta[code], abs=1e-6)


def test_two_models_match_the_closed_form(env: Env) -> None:
    """Two models, w wins, l losses, t ties (half each): the MAP difference d solves
    (w + t/2)(1 - s(d)) - (l + t/2) s(d) - prior d / 2 = 0, and the ratings are +-d/2."""
    rows = [
        {"id": f"p{i}", "prompt": f"q{i}", "outputs": {"m1": f"one {i}", "m2": f"two {i}"}} for i in range(3)
    ]
    r = env.client.post(
        "/api/v1/arenas", json={"slug": "duo", "k": 2, "rows": rows}, headers=env.h(env.admin)
    )
    assert r.status_code == 201, r.text
    tok = env.invite("voter", arenas=["duo"])
    plan = ["m1"] * 9 + ["m2"] * 4 + ["tie"] * 3

    def ranks(outs: list[str], who: str) -> list[int]:
        if who == "tie":
            return [0, 0]
        mine = "one" if who == "m1" else "two"
        return [0 if o.startswith(mine) else 1 for o in outs]

    for who in plan:
        _vote(env, tok, "duo", lambda outs, who=who: ranks(outs, who))
    got = _batch(env, tok, "duo")
    w, lo, t = 9, 4, 3
    d = brentq(lambda d: (w + t / 2) * (1 - expit(d)) - (lo + t / 2) * expit(d) - BT_PRIOR * d / 2, -20, 20)
    assert got["m1"]["score"] == pytest.approx(d / 2, abs=1e-9)
    assert got["m2"]["score"] == pytest.approx(-d / 2, abs=1e-9)
    assert got["m1"]["games"] == got["m2"]["games"] == len(plan)


ROWS3 = [
    {
        "id": f"q{i}",
        "context": f"question {i}",
        "candidates": [{"id": f"q{i}{c}", "text": f"answer {c}{i}"} for c in "abc"],
    }
    for i in range(5)
]


def _answer_all(env: Env, tok: str, slug: str, pick: Any) -> None:
    while True:
        r = env.client.get(f"/api/v1/campaigns/{slug}/tasks/next", headers=env.h(tok))
        if r.status_code == 204:
            return
        task = r.json()
        body = {"campaign": slug, "task_id": task["task_id"], "answer": pick(task)}
        assert env.client.post("/api/v1/judgments", json=body, headers=env.h(tok)).status_code == 201


def test_ranking_and_rating_agreement_match_krippendorff(env: Env) -> None:
    h = env.h(env.admin)
    for slug, cfg in (
        ("rk", {"shape": "ranking", "overlap": 3}),
        ("rt", {"shape": "rating", "attributes": ["quality"], "scale_min": 1, "scale_max": 5, "overlap": 3}),
    ):
        r = env.client.post("/api/v1/campaigns", json={"slug": slug, "rows": ROWS3, **cfg}, headers=h)
        assert r.status_code == 201, r.text
    rng = np.random.default_rng(5)
    ranks: dict[tuple[int, int], dict[int, int]] = {}
    scores: dict[tuple[int, int], dict[int, int]] = {}
    firsts: dict[int, list[int]] = {}
    for coder in range(3):
        tok = env.invite(f"r{coder}", ["rk", "rt"])

        def rank(task: dict, coder: int = coder) -> dict:
            order = [int(x) for x in (rng.permutation(3) if rng.random() < 0.5 else [0, 1, 2])]
            for pos, i in enumerate(order):
                ranks.setdefault((task["task_id"], i), {})[coder] = pos
            firsts.setdefault(task["task_id"], []).append(order[0])
            return {"overall": {"order": order}}

        def rate(task: dict, coder: int = coder) -> dict:
            s = [int(x) for x in np.clip(np.array([4, 3, 1]) + rng.integers(-1, 2, size=3), 1, 5)]
            for i, v in enumerate(s):
                scores.setdefault((task["task_id"], i), {})[coder] = v
            return {"quality": {"scores": s}}

        _answer_all(env, tok, "rk", rank)
        _answer_all(env, tok, "rt", rate)

    def matrix(cells: dict) -> np.ndarray:
        return np.array([[cells[u].get(c, np.nan) for u in sorted(cells)] for c in range(3)], dtype=float)

    got_rk = env.client.get("/api/v1/campaigns/rk/agreement", headers=h).json()[0]
    got_rt = env.client.get("/api/v1/campaigns/rt/agreement", headers=h).json()[0]
    assert got_rk["alpha"] == pytest.approx(krippendorff.alpha(matrix(ranks), level_of_measurement="ordinal"))
    assert got_rt["alpha"] == pytest.approx(
        krippendorff.alpha(matrix(scores), level_of_measurement="interval")
    )
    counts = np.array([[v.count(k) for k in range(3)] for v in firsts.values()])
    assert got_rk["kappa"] == pytest.approx(fleiss_kappa(counts))
    assert (got_rk["n_units"], got_rk["n_answers"], got_rk["kappa_subjects"]) == (15, 15, 5)
    assert (got_rt["n_units"], got_rt["n_answers"], got_rt["alpha_level"]) == (15, 15, "interval")
