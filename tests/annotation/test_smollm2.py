"""The real local model through the real client: SmolLM2-135M-Instruct served by xllamacpp on 127.0.0.1.

A plumbing check, not a good judge: asked both orders with AlpacaEval's weighted (log-probability) verdict,
the 135M model answers by position, so its verdicts collapse to ties and the audit flags position bias and
swap inconsistency. Small and bounded: 3 short llmfao pairs, 6 one-token calls.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from prefkit.cli.main import main

pytest.importorskip("xllamacpp")


def _run(argv: list[str], capsys: Any) -> tuple[int, str, str]:
    code = 0
    try:
        main(argv)
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.slow
@pytest.mark.shared_data
@pytest.mark.timeout(900)
def test_smollm2_both_orders_collapse_to_ties(tmp_path: Path, capsys: Any, shared_data: Path) -> None:
    from prefkit.annotation.local import gguf_path

    try:
        gguf_path("smollm2")
    except Exception as exc:  # the model package is an optional extra
        pytest.skip(str(exc))
    d = shared_data / "llmfao"
    few = tmp_path / "few.csv"
    few.write_text("".join((d / "gpt4-crowd-comparisons.csv").read_text().splitlines(keepends=True)[:4]))
    out = tmp_path / "verdicts.jsonl"
    cache = tmp_path / "cache.sqlite"
    argv = ["judge", "run", str(few), "--texts", str(d), "--model", "local:smollm2", "--protocol", "alpaca-eval-clf",
            "--out", str(out), "--cache", str(cache), "--concurrency", "2", "-q"]  # fmt: skip
    code, _, err = _run(argv, capsys)
    assert code == 0, err
    assert "3 verdicts" in err and "6 calls" in err
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert sum(r["winner"] == "tie" for r in rows) >= 2  # mostly ties
    code, stdout, err = _run(["judge", "audit", str(out), "--format", "json"], capsys)
    assert code == 0, err
    (a,) = json.loads(stdout)["judges"]
    assert a["ties"] >= 2 / 3
    assert a["swap"]["flips"] >= 2 and a["swap"]["consistency"] <= 1 / 3
    assert a["position"]["first_share"] <= 1 / 6 or a["position"]["first_share"] >= 5 / 6  # by position
    # a re-run costs nothing: every call is in the cache
    code, _, err = _run(argv, capsys)
    assert code == 0 and "0 calls, 6 cached" in err
