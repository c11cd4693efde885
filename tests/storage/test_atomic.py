"""Atomic imports (a failure half-way leaves the store byte-for-byte as it was), migrations, bad stores."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from prefkit.cli.main import main
from prefkit.data.index import ItemIndex
from prefkit.data.model import Dataset, PairwiseTable
from prefkit.errors import InputError, StoreError
from prefkit.storage import _insert
from prefkit.storage.db import connect, migrate, schema_version
from prefkit.storage.schema import MIGRATIONS, NAMESPACE
from prefkit.storage.store import ProjectStore


def random_battles(n: int, seed: int, n_models: int = 12) -> Dataset:
    rng = np.random.default_rng(seed)
    items = ItemIndex(f"m{i:02d}" for i in range(n_models))
    a = rng.integers(0, n_models, n)
    b = (a + rng.integers(1, n_models, n)) % n_models
    pw = PairwiseTable.build(a, b, rng.integers(0, 4, n), line=np.arange(1, n + 1))
    return Dataset(items=items, pairwise=pw)


def snapshot(path: Path) -> tuple[str, list[str]]:
    """(sha256 of the closed store file, SQL dump): both must be unchanged by a failed import."""
    conn = sqlite3.connect(path)
    dump = list(conn.iterdump())
    conn.close()
    return hashlib.sha256(path.read_bytes()).hexdigest(), dump


def write_arena(path: Path, n: int, bad_line: int | None = None) -> None:
    rng = np.random.default_rng(n)
    winners = ["model_a", "model_b", "tie", "tie (bothbad)"]
    with open(path, "w", encoding="utf-8") as fh:
        for i in range(1, n + 1):
            w = "nobody" if i == bad_line else winners[int(rng.integers(4))]
            a, b = rng.choice(10, size=2, replace=False)
            fh.write(json.dumps({"model_a": f"m{a}", "model_b": f"m{b}", "winner": w}) + "\n")


@pytest.fixture
def filled(tmp_path: Path) -> Path:
    path = tmp_path / "p.db"
    with ProjectStore(path) as store:
        store.import_dataset(random_battles(500, seed=1), source="first")
    return path


def test_failure_in_the_middle_of_the_insert_loop_rolls_back(
    filled: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = snapshot(filled)
    monkeypatch.setattr(_insert, "CHUNK", 100)
    calls = {"n": 0}
    real = _insert._executemany

    def flaky(conn: sqlite3.Connection, sql: str, rows: list) -> None:
        calls["n"] += 1
        if calls["n"] == 3:  # two chunks are in, the third fails
            raise sqlite3.OperationalError("disk I/O error (injected)")
        real(conn, sql, rows)

    monkeypatch.setattr(_insert, "_executemany", flaky)
    with ProjectStore(filled) as store:
        with pytest.raises(StoreError, match="import failed, nothing was stored .*injected"):
            store.import_dataset(random_battles(1000, seed=2), source="second")
        assert calls["n"] == 3
        assert store.counts().pairwise == 500 and store.counts().imports == 1
        # the connection is still usable afterwards (and the failed rows were never written)
        store.conn.execute("SELECT count(*) FROM pairwise").fetchone()
    assert snapshot(filled) == before
    monkeypatch.setattr(_insert, "_executemany", real)
    with ProjectStore(filled) as store:
        r = store.import_dataset(random_battles(1000, seed=2))
        assert r.pairwise.added + r.pairwise.duplicates == 1000
        assert store.counts().pairwise == 500 + r.pairwise.added


def test_exception_from_progress_callback_rolls_back_bytes_unchanged(filled: Path) -> None:
    before = snapshot(filled)
    seen: list[int] = []

    def progress(n: int) -> None:
        seen.append(n)
        raise KeyboardInterrupt  # the user pressed Ctrl-C half-way

    with ProjectStore(filled) as store:
        with pytest.raises(KeyboardInterrupt):
            store.import_dataset(random_battles(2000, seed=3), progress=progress)
    assert seen  # it did fail half-way through the inserts
    assert snapshot(filled) == before


def test_bad_line_5000_rejected_before_anything_is_written(filled: Path, tmp_path: Path) -> None:
    data = tmp_path / "battles.jsonl"
    write_arena(data, 6000, bad_line=5000)
    before = snapshot(filled)
    with ProjectStore(filled) as store:
        with pytest.raises(InputError) as info:
            store.import_file(data)
    assert str(info.value).startswith(f"{data}:5000: ")
    assert snapshot(filled) == before


def test_cli_bad_file_exit_2_store_unchanged_and_no_new_store_left(
    filled: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "battles.jsonl"
    write_arena(data, 6000, bad_line=5000)
    before = snapshot(filled)
    with pytest.raises(SystemExit) as ex:
        main(["import", str(data), "--db", str(filled)])
    assert ex.value.code == 2
    err = capsys.readouterr().err
    assert f"{data}:5000: unknown winner 'nobody'" in err and "Traceback" not in err
    assert snapshot(filled) == before
    fresh = tmp_path / "fresh.db"
    with pytest.raises(SystemExit):
        main(["import", str(data), "--db", str(fresh)])
    assert not fresh.exists()


def test_migrates_a_v1_store_keeping_its_data(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = connect(path)
    assert migrate(conn, NAMESPACE, MIGRATIONS[:1]) == 1  # a store written by the first release
    conn.execute("INSERT INTO items(id) VALUES ('x'), ('y')")
    conn.execute("INSERT INTO criteria(name) VALUES ('overall')")
    conn.execute(
        "INSERT INTO pairwise(id, d1, d2, occurrence, seq, a, b, outcome, criterion, weight, line) "
        "VALUES (NULL, 1, 2, 0, 0, 1, 2, 0, 1, 1.0, 1)"
    )
    conn.close()
    with ProjectStore(path) as store:
        assert store.version == len(MIGRATIONS) > 1
        ds = store.to_dataset()
        assert ds.items.names == ["x", "y"] and len(ds.pairwise) == 1
        assert store.import_dataset(random_battles(10, seed=4)).pairwise.added == 10
    conn = sqlite3.connect(path)
    cols = [r[1] for r in conn.execute("PRAGMA table_info(imports)")]
    indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    conn.close()
    assert "meta" in cols and "pairwise_criterion" in indexes


def test_other_namespaces_are_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "p.db"
    conn = connect(path)
    migrate(conn, "service", ["CREATE TABLE campaigns (id INTEGER PRIMARY KEY, name TEXT)"])
    conn.close()
    with ProjectStore(path) as store:
        store.import_dataset(random_battles(5, seed=5))
    conn = connect(path)
    assert schema_version(conn, "service") == 1 and schema_version(conn, NAMESPACE) == len(MIGRATIONS)
    conn.close()


def test_store_from_a_newer_prefkit_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    with ProjectStore(path):
        pass
    conn = sqlite3.connect(path)
    conn.execute("UPDATE schema_version SET version = ? WHERE namespace = 'core'", (len(MIGRATIONS) + 1,))
    conn.commit()
    conn.close()
    before = snapshot(path)
    with pytest.raises(StoreError, match="newer than this prefkit knows.*upgrade prefkit"):
        ProjectStore(path)
    assert snapshot(path) == before


@pytest.mark.parametrize(
    "make,match",
    [
        (lambda p: p.mkdir(), "is a directory"),
        (lambda p: p.write_text("model_a,model_b,winner\n"), "not a SQLite database"),
        (lambda p: None, "no such store"),
    ],
    ids=["directory", "not-sqlite", "missing"],
)
def test_bad_store_paths(tmp_path: Path, make: object, match: str) -> None:
    path = tmp_path / "x.db"
    make(path)  # type: ignore[operator]
    with pytest.raises(StoreError, match=match):
        ProjectStore(path, create=False)


def test_missing_directory_and_foreign_sqlite(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no such directory"):
        ProjectStore(tmp_path / "nope" / "p.db")
    foreign = tmp_path / "other.db"
    conn = sqlite3.connect(foreign)
    conn.execute("CREATE TABLE items (name TEXT)")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="migration core v1 failed"):
        ProjectStore(foreign)
