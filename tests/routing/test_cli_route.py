"""``prefkit route`` end to end on small arena logs with texts (and on llmfao when the shared data is there):
the JSON contract of simulate, plans that the web app's campaign parser accepts, same seed same plan, and the bad
inputs (budget, files on different pairs, no texts): exit 2 with one error line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from prefkit.cli.main import app

MODELS = ["m1", "m2", "m3", "m4", "m5"]


def _logs(tmp: Path, n_prompts: int = 12, seed: int = 0) -> tuple[Path, Path]:
    """A human log (3 votes per pair) and an AI log (one verdict per pair) with texts, on the same pairs."""
    rng = np.random.default_rng(seed)
    human, ai = [], []
    for q in range(n_prompts):
        said = {m: f"answer by {m} " + "word " * int(rng.integers(1, 30)) for m in MODELS}
        for i in range(len(MODELS)):
            for j in range(i + 1, len(MODELS)):
                base = {
                    "model_a": MODELS[i], "model_b": MODELS[j], "question_id": f"q{q}",
                    "prompt": f"Question {q}: explain topic {q % 4}" + " in detail" * (q % 3),
                    "response_a": said[MODELS[i]], "response_b": said[MODELS[j]],
                }  # fmt: skip
                p = 1 / (1 + np.exp(j - i))  # the earlier model is better
                for v in range(3):
                    w = "model_a" if rng.random() < p else "model_b"
                    human.append({**base, "winner": w, "judge": f"h{v}", "judge_kind": "human"})
                ai.append(
                    {
                        **base,
                        "winner": "model_a" if rng.random() < 0.6 else "tie",
                        "judge": "gpt",
                        "judge_kind": "model",
                    }
                )
    hp, ap = tmp / "human.jsonl", tmp / "ai.jsonl"
    hp.write_text("".join(json.dumps(r) + "\n" for r in human))
    ap.write_text("".join(json.dumps(r) + "\n" for r in ai))
    return hp, ap


def _run(*args: str) -> tuple[int, str, str]:
    res = CliRunner().invoke(app, ["route", *args])
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exception
    return res.exit_code, res.stdout, res.stderr


def _bad(args: list[str], match: str) -> None:
    code, out, err = _run(*args)
    errors = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert code == 2 and len(errors) == 1 and "Traceback" not in err, (code, out, err)
    assert match in errors[0], errors[0]


def test_simulate_prints_the_json_contract(tmp_path: Path) -> None:
    hp, ap = _logs(tmp_path)
    code, out, err = _run(
        "simulate",
        "--human",
        str(hp),
        "--ai",
        str(ap),
        "--budget",
        "0.25",
        "--seeds",
        "3",
        "--format",
        "json",
    )
    assert code == 0, err
    doc = json.loads(out)
    assert set(doc) == {"budget", "policies"} and doc["budget"] == 0.25
    assert [p["policy"] for p in doc["policies"]] == ["routed", "random", "all-ai", "all-human"]
    for p in doc["policies"]:
        assert set(p) == {"policy", "agreement", "agreement_lower", "agreement_upper", "tau"}
        assert p["agreement_lower"] <= p["agreement"] <= p["agreement_upper"]


def test_features_fit_plan_and_the_web_app_accepts_the_plan(tmp_path: Path) -> None:
    from prefkit.service.campaigns import parse_rows

    hp, ap = _logs(tmp_path)
    feats, model = tmp_path / "f.jsonl", tmp_path / "m.json"
    assert _run("features", str(hp), "--ai", str(ap), "--out", str(feats))[0] == 0
    rows = [json.loads(x) for x in feats.read_text().splitlines()]
    assert (
        len(rows) == 12 * 10
        and rows[0]["id"] == "p1"
        and {"len_diff", "ai_verdict", "leaderboard_value"} <= set(rows[0])
    )
    code, _, err = _run(
        "fit",
        "--human",
        str(hp),
        "--ai",
        str(ap),
        "--features",
        str(feats),
        "--no-lexical",
        "--out",
        str(model),
    )
    assert code == 0, err
    plans = []
    for name in ("a.jsonl", "b.jsonl"):
        code, _, err = _run("plan", str(hp), "--model", str(model), "--ai", str(ap), "--features", str(feats),
                            "--budget", "0.25", "--seed", "3", "--out", str(tmp_path / name))  # fmt: skip
        assert code == 0, err
        plans.append((tmp_path / name).read_text())
    assert plans[0] == plans[1]  # same file, same seed: same plan
    rows = [json.loads(x) for x in plans[0].splitlines()]
    assert sum(r["route"] == "human" for r in rows) == 30 and {r["route"] for r in rows} == {"human", "ai"}
    assert all(set(r) == {"id", "context", "candidates", "route", "gain"} for r in rows)
    human_gains = [r["gain"] for r in rows if r["route"] == "human"]
    assert min(human_gains) >= max(r["gain"] for r in rows if r["route"] == "ai")
    campaign = parse_rows(plans[0], "plan.jsonl")
    assert len(campaign) == 120 and campaign[0].candidates[0]["id"] == rows[0]["candidates"][0]["id"]
    # without a model: where the file's own votes disagree
    code, _, err = _run("plan", str(hp), "--budget", "0.5", "--out", str(tmp_path / "c.jsonl"))
    assert code == 0, err


def test_bad_inputs_exit_2_with_one_line(tmp_path: Path) -> None:
    hp, ap = _logs(tmp_path)
    for b in ("-0.1", "1.5", "nan"):
        _bad(
            ["simulate", "--human", str(hp), "--ai", str(ap), "--budget", b],
            "budget must be a fraction in [0, 1]",
        )
        _bad(
            ["plan", str(hp), "--budget", b, "--out", str(tmp_path / "p.jsonl")],
            "budget must be a fraction in [0, 1]",
        )
    lines = ap.read_text().splitlines()
    short = tmp_path / "short.jsonl"
    short.write_text("\n".join(lines[:3] + lines[4:]) + "\n")
    missing = json.loads(lines[3])
    _bad(["simulate", "--human", str(hp), "--ai", str(short)],
         f"lacks 1 pair(s) of {hp} (first: {missing['model_a']} vs {missing['model_b']} on")  # fmt: skip
    _bad(
        ["fit", "--human", str(hp), "--ai", str(short), "--out", str(tmp_path / "m.json")], "lacks 1 pair(s)"
    )
    notexts = tmp_path / "notexts.jsonl"
    notexts.write_text(
        "".join(
            json.dumps({k: v for k, v in json.loads(x).items() if k not in ("response_a", "response_b")})
            + "\n"
            for x in hp.read_text().splitlines()
        )
    )
    _bad(
        ["features", str(notexts), "--out", str(tmp_path / "f.jsonl")],
        "120 of 120 instances lack a response text (first: instance 1)",
    )
    _bad(
        ["plan", str(notexts), "--budget", "0.2", "--out", str(tmp_path / "p.jsonl")],
        "lack a response text (first: pair p1",
    )
    _bad(
        ["plan", str(hp), "--budget", "0.2", "--model", str(hp), "--out", str(tmp_path / "p.jsonl")],
        "not a routing model",
    )
    _bad(
        ["simulate", "--human", str(hp), "--ai", str(ap), "--format", "xml"], "--format must be table or json"
    )


@pytest.mark.shared_data
def test_simulate_on_llmfao(shared_data: Path) -> None:
    d = str(shared_data / "llmfao")
    code, out, err = _run(
        "simulate", "--human", d, "--ai", d, "--budget", "0.25", "--seeds", "3", "--format", "json"
    )
    assert code == 0, err
    pol = {p["policy"]: p for p in json.loads(out)["policies"]}
    assert pol["routed"]["agreement"] > pol["random"]["agreement"] > pol["all-ai"]["agreement"]


def test_reward_model_uncertainty_feature(tmp_path: Path, require_peer) -> None:  # noqa: ANN001
    require_peer("torch", "reward")
    from prefkit.annotation.reward_judge import RewardModelJudge
    from prefkit.annotation.types import PairTask

    pairs = Path(__file__).resolve().parents[2] / "src" / "prefkit" / "examples" / "reward-pairs.jsonl"
    rm = tmp_path / "rm"
    res = CliRunner().invoke(
        app, ["reward", "train", str(pairs), "--encoder", "hashing", "--out", str(rm), "--no-cache"]
    )
    assert res.exit_code == 0, res.stderr
    hp, _ = _logs(tmp_path, n_prompts=2)
    out = tmp_path / "f.jsonl"
    assert _run("features", str(hp), "--no-lexical", "--reward", str(rm), "--out", str(out))[0] == 0
    got = [json.loads(x)["reward_uncertainty"] for x in out.read_text().splitlines()]
    rows = [json.loads(x) for x in hp.read_text().splitlines()][::3]  # one row per pair, in file order
    p = RewardModelJudge(str(rm)).p_first(
        [PairTask(r["prompt"], r["response_a"], r["response_b"]) for r in rows]
    )
    assert got == pytest.approx([1 - abs(2 * x - 1) for x in p])
    _bad(["features", str(hp), "--reward", str(tmp_path / "nothing"), "--out", str(out)], "")
