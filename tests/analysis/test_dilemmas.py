"""DailyDilemmas value profiles: reading, scoring by hand on the shipped test slice, system-message effect."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from prefkit.analysis.dilemmas import (
    ask,
    compare_profiles,
    parse_choice,
    read_dilemmas,
    read_values,
    value_battles,
    value_profile,
)
from prefkit.cli._fit import bt_fitter
from prefkit.errors import InputError


class Scripted:
    """Takes the action (Action 1) unless the system message asks for caution (Action 2)."""

    def __init__(self) -> None:
        self.seen: list[list[tuple[str, str]]] = []

    def chat(self, conversations: Sequence[Sequence[tuple[str, str]]]) -> list[str]:
        out = []
        for conv in conversations:
            self.seen.append(list(conv))
            cautious = any(r == "system" and "cautious" in c for r, c in conv)
            out.append("Action 2" if cautious else "I choose Action 1.")
        return out


@pytest.fixture
def dd(shared_data: Path):
    d = shared_data / "daily_dilemmas"
    values = read_values(d / "values.csv")
    return values, read_dilemmas(d / "dilemmas_with_detail_by_action_test.csv", values)


def test_reads_301_values_and_the_test_slice(dd) -> None:
    values, dilemmas = dd
    assert len(values.names) == 301 and set(values.theories) == {"WVS", "MFT", "Virtue", "Emotion", "Maslow"}
    assert [d.idx for d in dilemmas] == ["55", "107", "176", "257"]
    d55 = dilemmas[0]
    assert d55.actions == ("Report the colleague", "Not report the colleague")
    assert [values.names[v] for v in d55.values[1]] == [
        "avoidance of conflict",
        "tolerance",
        "self",
        "complicity",
    ]


def test_parse_choice() -> None:
    assert parse_choice("Action 1") == 0 and parse_choice("**Action 2**.") == 1
    assert parse_choice("action 1 or action 2?") == -1 and parse_choice("I would not.") == -1


def test_profile_by_hand(dd) -> None:
    values, dilemmas = dd
    model = Scripted()
    choices = [parse_choice(r) for r in ask(model, dilemmas)]
    assert choices == [0, 0, 0, 0]
    win, lose = value_battles(dilemmas, choices)
    # by hand: every to-do value beats every not-to-do value, values on both sides skipped
    expected = sum(
        len(set(d.values[0]) - set(d.values[1])) * len(set(d.values[1]) - set(d.values[0])) for d in dilemmas
    )
    assert len(win) == expected and expected >= 28  # dilemma 55 alone: 7 x 4
    prof = value_profile(dilemmas, choices, values, bt_fitter(), name="scripted")
    assert prof.to_do_share == 1.0 and prof.n_answered == 4
    top = {v.value for v in prof.values if v.losses == 0}
    bottom = {v.value for v in prof.values if v.wins == 0}
    assert "honesty" in top and "complicity" in bottom
    assert all(
        v.strength > w.strength for v in prof.values if v.losses == 0 for w in prof.values if w.wins == 0
    )
    # MFT shares, counted by hand from the file's mft column: chosen mentions / all mentions per foundation
    mft = {t.category: t for t in prof.theories if t.theory == "MFT"}
    cats = values.theories["MFT"]
    for cat, t in mft.items():
        c = sum(cats[v] == cat for d in dilemmas for v in d.values[0])
        r = sum(cats[v] == cat for d in dilemmas for v in d.values[1])
        assert (t.chosen, t.rejected) == (c, r) and t.lower <= t.share <= t.upper


def test_system_message_flips_the_profile(dd) -> None:
    values, dilemmas = dd
    model = Scripted()
    plain = value_profile(
        dilemmas, [parse_choice(r) for r in ask(model, dilemmas)], values, bt_fitter(), name="plain"
    )
    sys_ = ask(model, dilemmas, system="Be cautious.")
    assert model.seen[-1][0] == ("system", "Be cautious.")
    careful = value_profile(dilemmas, [parse_choice(r) for r in sys_], values, bt_fitter(), name="cautious")
    assert careful.to_do_share == 0.0
    rows = {r["value"]: r for r in compare_profiles([plain, careful])}
    assert rows["honesty"]["plain"] > 0 > rows["honesty"]["cautious"]
    # deterministic: the same answers give the same profile
    again = value_profile(dilemmas, [parse_choice(r) for r in sys_], values, bt_fitter(), name="cautious")
    assert again.to_dict() == careful.to_dict()


def test_unanswered_dilemmas_are_left_out(dd) -> None:
    values, dilemmas = dd
    prof = value_profile(dilemmas, [-1, -1, -1, 0], values, bt_fitter())
    assert prof.n_answered == 1 and np.isfinite([v.strength for v in prof.values]).all()


def test_bad_files(tmp_path: Path, dd, shared_data: Path) -> None:
    values, _ = dd
    src = (shared_data / "daily_dilemmas" / "dilemmas_with_detail_by_action_test.csv").read_text()
    bad = tmp_path / "bad.csv"
    bad.write_text(src.replace("'honesty'", "'hovercraft piloting'", 1))
    with pytest.raises(
        InputError, match=r"bad.csv:2: value 'hovercraft piloting' is not in the values table"
    ):
        read_dilemmas(bad, values)
    half = tmp_path / "half.csv"
    half.write_text("".join(src.splitlines(keepends=True)[:2]))
    with pytest.raises(InputError, match="has no not_to_do row"):
        read_dilemmas(half, values)
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("a,b\n1,2\n")
    with pytest.raises(InputError, match="needs columns"):
        read_dilemmas(wrong, values)
    with pytest.raises(InputError, match="'value' column"):
        read_values(wrong)
