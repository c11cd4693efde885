"""The project store: idempotent imports, identities of judgments, entities, filters, read-back."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

from prefkit.data.index import ItemIndex
from prefkit.data.model import (
    OUTCOME_A,
    OUTCOME_B,
    OUTCOME_TIE,
    Dataset,
    PairwiseTable,
    RankingTable,
    RatingTable,
)
from prefkit.errors import InputError, StoreError, ValidationError
from prefkit.storage.store import ProjectStore


def battles(
    rows: list[tuple[str, str, int]], *, ids: list[str | None] | None = None, **kw: object
) -> Dataset:
    """A pairwise Dataset from (a, b, outcome) rows, lines numbered from 1."""
    items = ItemIndex()
    a = items.encode([r[0] for r in rows]) if rows else np.zeros(0, np.int32)
    b = items.encode([r[1] for r in rows]) if rows else np.zeros(0, np.int32)
    pw = PairwiseTable.build(a, b, [r[2] for r in rows], ids=ids, line=np.arange(1, len(rows) + 1))
    return Dataset(items=items, pairwise=pw, **kw)  # type: ignore[arg-type]


def mixed() -> Dataset:
    """All three shapes, with contexts, annotators (kinds, groups), criteria, attributes and texts."""
    items = ItemIndex(["r1", "r2", "r3"])
    criteria = ItemIndex(["overall", "helpful"])
    return Dataset(
        items=items,
        contexts=ItemIndex(["p1", "p2"]),
        annotators=ItemIndex(["ann", "gpt"]),
        criteria=criteria,
        attributes=ItemIndex(["verbosity"]),
        pairwise=PairwiseTable.build(
            [0, 1, 0],
            [1, 2, 2],
            [OUTCOME_A, OUTCOME_TIE, OUTCOME_B],
            strength=[2.0, np.nan, -1.0],
            context=[0, 1, -1],
            annotator=[0, 1, -1],
            criterion=[0, 1, 0],
            weight=[1.0, 0.5, 2.0],
            rationale=["clearer", None, "r3 is right"],
            line=[1, 2, 3],
        ),
        rankings=RankingTable.from_lists(
            [[[2], [0, 1]], [[1], [2], [0]]], context=[0, -1], annotator=[1, 0], criterion=[1, 0], line=[4, 5]
        ),
        ratings=RatingTable.build(
            [0, 2],
            [6.0, 2.5],
            [1, 1],
            [7, 7],
            attribute=[-1, 0],
            annotator=[0, 0],
            ids=["s1", "s2"],
            line=[6, 7],
        ),
        item_text={"r1": "Canberra.", "r2": "Sydney.", "r3": "Canberra, since 1913."},
        context_text={"p1": "Capital of Australia?", "p2": "Say hi."},
        annotator_kind={"ann": "human", "gpt": "model"},
        annotator_groups={"ann": {"country": "AU", "age": "30-39"}},
        meta={"conversational": False},
    )


def test_import_twice_stores_nothing_twice(tmp_path: Path) -> None:
    ds = mixed()
    with ProjectStore(tmp_path / "p.db") as store:
        first = store.import_dataset(ds, source="mem")
        assert (first.pairwise.added, first.rankings.added, first.ratings.added) == (3, 2, 2)
        assert (first.new_items, first.new_contexts, first.new_annotators) == (3, 2, 2)
        before = store.counts()
        again = store.import_dataset(ds, source="mem")
        assert again.added == 0 and again.duplicates == 7
        assert (again.new_items, again.new_contexts, again.new_annotators) == (0, 0, 0)
        after = store.counts()
    assert after.pairwise == before.pairwise == 3
    assert (after.rankings, after.ratings, after.items, after.annotators) == (2, 2, 3, 2)
    assert after.imports == 2  # the history records both imports


def test_read_back_equals_what_was_imported(tmp_path: Path) -> None:
    ds = mixed()
    with ProjectStore(tmp_path / "p.db") as store:
        store.import_dataset(ds)
        back = store.to_dataset()
    assert back.pairwise.equals(ds.pairwise)
    assert back.rankings.equals(ds.rankings) and back.rankings.level.tolist() == ds.rankings.level.tolist()
    assert back.ratings.equals(ds.ratings)
    for name in ("items", "contexts", "annotators", "criteria", "attributes"):
        assert getattr(back, name) == getattr(ds, name), name
    assert back.item_text == ds.item_text and back.context_text == ds.context_text
    assert back.annotator_kind == ds.annotator_kind and back.annotator_groups == ds.annotator_groups
    assert back.meta["conversational"] is False


def test_repeated_anonymous_rows_are_kept_and_counted_by_occurrence(tmp_path: Path) -> None:
    # the same battle legitimately appears twice in one log: both are judgments
    twice = battles([("x", "y", OUTCOME_A), ("x", "y", OUTCOME_A), ("y", "x", OUTCOME_A)])
    thrice = battles([("x", "y", OUTCOME_A)] * 3)
    with ProjectStore(tmp_path / "p.db") as store:
        assert store.import_dataset(twice).pairwise.added == 3
        assert store.import_dataset(twice).pairwise.added == 0
        r = store.import_dataset(thrice)  # a third copy is new; the first two were there
        assert (r.pairwise.added, r.pairwise.duplicates) == (1, 2)
        assert store.counts().pairwise == 4


def test_identity_uses_names_not_codes(tmp_path: Path) -> None:
    # the same judgments read in another order get other integer codes but are the same judgments
    one = battles([("x", "y", OUTCOME_A), ("z", "x", OUTCOME_B)])
    other = battles([("z", "x", OUTCOME_B), ("x", "y", OUTCOME_A)])
    assert one.items.names != other.items.names
    with ProjectStore(tmp_path / "p.db") as store:
        store.import_dataset(one)
        r = store.import_dataset(other)
    assert (r.pairwise.added, r.pairwise.duplicates) == (0, 2)


@pytest.mark.parametrize(
    "change",
    ["outcome", "strength", "annotator", "criterion", "rationale", "weight", "tstamp"],
)
def test_every_field_is_part_of_the_identity(tmp_path: Path, change: str) -> None:
    base = dict(strength=[1.0], annotator=[0], criterion=[0], rationale=["r"], weight=[1.0], tstamp=[100.0])
    ds = Dataset(
        items=ItemIndex(["x", "y"]),
        annotators=ItemIndex(["h1", "h2"]),
        criteria=ItemIndex(["overall", "helpful"]),
        pairwise=PairwiseTable.build([0], [1], [OUTCOME_A], **base),  # type: ignore[arg-type]
    )
    new = {
        "strength": [2.0],
        "annotator": [1],
        "criterion": [1],
        "rationale": ["s"],
        "weight": [0.5],
        "tstamp": [101.0],
    }
    kw = dict(base)
    outcome = OUTCOME_A
    if change == "outcome":
        outcome = OUTCOME_TIE
    else:
        kw[change] = new[change]
    changed = Dataset(
        items=ds.items,
        annotators=ds.annotators,
        criteria=ds.criteria,
        pairwise=PairwiseTable.build([0], [1], [outcome], **kw),  # type: ignore[arg-type]
    )
    with ProjectStore(tmp_path / "p.db") as store:
        store.import_dataset(ds)
        assert store.import_dataset(changed).pairwise.added == 1


def test_explicit_ids_identify_judgments(tmp_path: Path) -> None:
    ds = battles([("x", "y", OUTCOME_A), ("x", "y", OUTCOME_A)], ids=["b1", "b2"])
    with ProjectStore(tmp_path / "p.db") as store:
        assert store.import_dataset(ds).pairwise.added == 2
        same_id_same_content = battles([("x", "y", OUTCOME_A)], ids=["b1"])
        r = store.import_dataset(same_id_same_content)
        assert (r.pairwise.added, r.pairwise.duplicates) == (0, 1)
        back = store.to_dataset()
    assert back.pairwise.ids.to_pylist() == ["b1", "b2"]


def test_same_id_twice_in_one_source_with_other_content_names_id_and_lines(tmp_path: Path) -> None:
    ds = battles(
        [("x", "y", OUTCOME_A), ("x", "z", OUTCOME_A), ("x", "y", OUTCOME_B)], ids=["b1", "b2", "b1"]
    )
    with ProjectStore(tmp_path / "p.db") as store:
        with pytest.raises(InputError) as info:
            store.import_dataset(ds, source="log.jsonl")
        assert store.counts().pairwise == 0
    msg = str(info.value)
    assert msg.startswith("log.jsonl:3: ") and "'b1'" in msg and "line 1" in msg


def test_known_id_with_other_content_is_refused_and_store_unchanged(tmp_path: Path) -> None:
    with ProjectStore(tmp_path / "p.db") as store:
        store.import_dataset(battles([("x", "y", OUTCOME_A)], ids=["b7"]), source="day1.jsonl")
        clash = battles([("x", "z", OUTCOME_A), ("x", "y", OUTCOME_B)], ids=["b8", "b7"])
        with pytest.raises(InputError) as info:
            store.import_dataset(clash, source="day2.jsonl")
        assert store.counts().pairwise == 1 and store.counts().items == 2  # "z" not added either
    msg = str(info.value)
    assert msg.startswith("day2.jsonl:2: ") and "'b7'" in msg and "day1.jsonl line 1" in msg


def test_conflicting_entity_text_is_an_error(tmp_path: Path) -> None:
    ds = mixed()
    other = mixed()
    other.item_text["r2"] = "Melbourne."
    with ProjectStore(tmp_path / "p.db") as store:
        store.import_dataset(ds)
        with pytest.raises(InputError, match="item 'r2' is already in the store with text 'Sydney.'"):
            store.import_dataset(other, source="b.jsonl")


def test_missing_text_is_filled_in_later(tmp_path: Path) -> None:
    ds = mixed()
    bare = mixed()
    bare.item_text.clear()
    with ProjectStore(tmp_path / "p.db") as store:
        store.import_dataset(bare)
        assert store.to_dataset().item_text == {}
        store.import_dataset(ds)
        assert store.to_dataset().item_text == ds.item_text


def test_filters(tmp_path: Path) -> None:
    with ProjectStore(tmp_path / "p.db") as store:
        store.import_dataset(mixed())
        helpful = store.to_dataset(criterion="helpful")
        assert (len(helpful.pairwise), len(helpful.rankings), len(helpful.ratings)) == (1, 1, 0)
        assert helpful.criteria.names == ["helpful"]
        assert sorted(helpful.items.names) == ["r1", "r2", "r3"]
        assert helpful.items.name(int(helpful.pairwise.a[0])) == "r2"
        humans = store.to_dataset(annotator_kind="human")
        assert (len(humans.pairwise), len(humans.rankings), len(humans.ratings)) == (1, 1, 2)
        assert humans.annotators.names == ["ann"]
        both = store.to_dataset(criterion=["overall", "helpful"], shapes=["pairwise"])
        assert (len(both.pairwise), len(both.rankings), len(both.ratings)) == (3, 0, 0)
        with pytest.raises(ValidationError, match="known criteria: overall, helpful"):
            store.to_dataset(criterion="harmless")
        with pytest.raises(ValidationError, match="human, model"):
            store.to_dataset(annotator_kind="robot")
        with pytest.raises(ValidationError, match="shapes"):
            store.to_dataset(shapes=["pairs"])


def test_bad_datasets_are_refused_before_writing(tmp_path: Path) -> None:
    bad_code = Dataset(items=ItemIndex(["x"]), pairwise=PairwiseTable.build([0], [3], [OUTCOME_A]))
    bad_outcome = Dataset(items=ItemIndex(["x", "y"]), pairwise=PairwiseTable.build([0], [1], [7]))
    bad_kind = battles([("x", "y", OUTCOME_A)], annotators=ItemIndex(["a"]), annotator_kind={"a": "robot"})
    with ProjectStore(tmp_path / "p.db") as store:
        with pytest.raises(ValidationError, match="pairwise.b has codes outside"):
            store.import_dataset(bad_code)
        with pytest.raises(ValidationError, match="pairwise.outcome"):
            store.import_dataset(bad_outcome)
        with pytest.raises(ValidationError, match="kind 'robot'"):
            store.import_dataset(bad_kind)
        assert store.counts().imports == 0


def test_closed_store_and_empty_dataset(tmp_path: Path) -> None:
    store = ProjectStore(tmp_path / "p.db")
    r = store.import_dataset(Dataset())
    assert r.added == 0 and r.duplicates == 0
    empty = store.to_dataset()
    assert empty.n_judgments == 0
    store.close()
    store.close()  # twice is fine
    with pytest.raises(StoreError, match="closed"):
        store.counts()


def test_durable_after_reopen_and_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "p.db"
    with ProjectStore(path) as store:
        store.import_dataset(mixed(), source="a.jsonl")
    with ProjectStore(path, create=False) as store:
        assert store.counts().pairwise == 3
        assert [i.source for i in store.imports()] == ["a.jsonl"]
        assert store.imports()[0].counts["pairwise"] == {"added": 3, "duplicates": 0}
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    conn.close()


def test_stated_preferences_survive_the_store_and_conflicts_are_refused(tmp_path: Path) -> None:
    """Janus conditions (system messages) are kept per context; a second source that states another one for the
    same context is refused and leaves the store as it was."""
    ds = mixed()
    ds.context_condition = {"p1": "Answer as briefly as possible.", "p2": "Be warm and chatty."}
    with ProjectStore(tmp_path / "p.db") as store:
        store.import_dataset(ds)
        assert store.to_dataset().context_condition == ds.context_condition
        other = mixed()
        other.context_condition = {"p1": "Explain at length."}
        before = store.counts()
        with pytest.raises(InputError, match="context 'p1' is already in the store with condition"):
            store.import_dataset(other, source="b.jsonl")
        assert store.counts() == before
        assert store.to_dataset().context_condition == ds.context_condition


def test_a_store_of_schema_v4_gains_the_condition_column(tmp_path: Path) -> None:
    """A store written before conditions existed opens, migrates and keeps its judgments."""
    from prefkit.storage import schema
    from prefkit.storage.db import migrate

    path = tmp_path / "old.db"
    with ProjectStore(path) as store:
        store.import_dataset(mixed())
    conn = sqlite3.connect(path)
    conn.execute("ALTER TABLE contexts DROP COLUMN condition")
    conn.execute("UPDATE schema_version SET version = 4 WHERE namespace = 'core'")
    conn.commit()
    assert migrate(conn, "core", schema.MIGRATIONS) == 5
    conn.close()
    ds = mixed()
    ds.context_condition = {"p2": "Be warm and chatty."}
    with ProjectStore(path) as store:
        assert len(store.to_dataset().pairwise) == 3
        store.import_dataset(ds)  # fills the new column of a known context
        assert store.to_dataset().context_condition == {"p2": "Be warm and chatty."}
