"""The CLI contract, for every command: bad input exits with status 2 and exactly one ``error:`` line on stderr,
never a traceback, and a project store given with ``--db`` is left byte-for-byte unchanged.

The commands are enumerated from the typer app, so a new command is covered as soon as it is registered: each of
its path parameters must be classified in ROLES below (the test fails until it is), and then every bad input of
that role is fed to it. Most runs are in-process (typer's CliRunner, through the same error boundary as the
``prefkit`` executable); a few run the real executable in a subprocess.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import typing
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import typer.main
from typer.testing import CliRunner

from prefkit.cli.main import app

EXAMPLES = Path(__file__).resolve().parents[1] / "src" / "prefkit" / "examples"
BATTLES = EXAMPLES / "battles.jsonl"
PAIRS = EXAMPLES / "reward-pairs.jsonl"
EXE = Path(sys.executable).with_name("prefkit")

# -- the commands and the role of each path parameter -------------------------------------------------------


def _leaves(cmd: Any, prefix: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    if hasattr(cmd, "commands"):  # a group
        for name, sub in cmd.commands.items():
            yield from _leaves(sub, (*prefix, name))
    else:
        yield prefix, cmd


COMMANDS = dict(_leaves(typer.main.get_command(app)))

# role of each path parameter, by "command path:parameter name" (exact) or by parameter name
ROLES = {
    "file": "data",
    "input": "data",
    "output": "out-file",
    "out": "out-file",
    "plot": "out-plot",
    "reliability": "out-plot",
    "model_dir": "model",
    "cache_dir": "out-dir",
    "reward train:out": "out-dir",
    "reward place:out": "out-dir",
    "reward multi:files": "data",
    "reward multi:out": "out-dir",
    "reward relabel:on": "data",
    "import:db": "db-new",
    "export:db": "db",
    "rank:db": "db",
    "serve:db": "db-new",
    "ratings": "data",
    "report:scores": "data",
    "explain dissect:item_properties": "data",
    "explain dissect:prompts_dir": "in-dir",
    "texts": "in-dir",  # an llmfao directory (prompts.jsonl + results.jsonl)
    "judge run:db": "db-new",
    "cache": "in-dir",  # the judge reply cache (SQLite), created when missing
    "judge audit:reference": "data",
    "optimize dpo:gguf": "in-dir",  # a GGUF model file (the packaged one by default)
    "optimize dpo:save": "out-dir",
    "explain principles:pool": "data",  # candidate principles, one per line
    "explain criteria:pool": "data",
    "bench dilemmas:values": "data",
    "bench dilemmas:out": "out-dir",
    "bench prefeval:data_dir": "in-dir",  # PrefEval's benchmark_dataset folder
    "bench prefeval:out": "out-dir",
    "bench ratings:out": "out-dir",
    "explain principles:reward": "model",  # a reward model folder
    "route features:ai": "data",
    "route features:configs": "data",  # HyPER's tagging_configs.json
    "route features:reward": "model",
    "route fit:human": "data",
    "route fit:ai": "data",
    "route fit:features": "data",
    "route plan:ppm": "data",  # a routing model (JSON) from route fit
    "route plan:ai": "data",
    "route plan:features": "data",
    "route simulate:human": "data",
    "route simulate:ai": "data",
    "route simulate:features": "data",
}


def _name(path: tuple[str, ...]) -> str:
    return " ".join(path)


def _role(path: tuple[str, ...], param: Any) -> str | None:
    return ROLES.get(f"{_name(path)}:{param.name}") or ROLES.get(param.name)


def _is_path(param: Any) -> bool:
    ann = param.type_descriptor.annotation
    return ann is Path or Path in typing.get_args(ann)


def _path_params(path: tuple[str, ...]) -> list[Any]:
    return [p for p in COMMANDS[path].params if _is_path(p)]


def test_every_path_parameter_has_a_role() -> None:
    missing = [
        f"{_name(path)}:{p.name}" for path in COMMANDS for p in _path_params(path) if _role(path, p) is None
    ]
    assert not missing, f"classify these path parameters in ROLES of {__file__}: {missing}"


def test_commands_are_enumerated() -> None:
    names = {_name(p) for p in COMMANDS}
    assert {"validate", "info", "convert", "import", "export", "rank", "serve", "arena simulate"} <= names
    assert {"reward train", "reward eval", "reward cv", "reward score", "reward export-trl"} <= names


# -- the corpus of bad inputs -------------------------------------------------------------------------------


def _jsonl(path: Path, rows: list[Any]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _parquet(path: Path, cols: dict[str, list[Any]]) -> Path:
    pq.write_table(pa.table(cols), path)
    return path


ARENA_OK = {"model_a": "m1", "model_b": "m2", "winner": "model_a"}
TRL_OK = {"prompt": "p", "chosen": "yes", "rejected": "no"}


def _bad_data(d: Path) -> dict[str, Path]:
    """Every kind of bad data file, by name (each reader gets its wrong labels and wrong types)."""
    d.mkdir()
    (d / "a-directory").mkdir()
    (d / "empty.jsonl").write_bytes(b"")
    (d / "empty.csv").write_bytes(b"")
    (d / "empty.parquet").write_bytes(b"")
    (d / "blank-lines.jsonl").write_text("\n\n  \n", encoding="utf-8")
    (d / "garbage.jsonl").write_bytes(bytes(range(256)) * 8)
    (d / "garbage.parquet").write_bytes(b"PAR1" + os.urandom(500) + b"PAR1")
    (d / "not-utf8.jsonl").write_bytes(json.dumps(ARENA_OK).encode() + b"\n" + b'{"model_a": "caf\xe9"}\n')
    whole = gzip.compress(BATTLES.read_bytes())
    (d / "truncated.jsonl.gz").write_bytes(whole[: len(whole) // 2])
    (d / "fake.jsonl.gz").write_bytes(b"\x1f\x8b" + b"not really gzip" * 20)
    lines = BATTLES.read_text(encoding="utf-8").splitlines()
    (d / "truncated-line.jsonl").write_text("\n".join(lines[:5]) + "\n" + lines[5][:30], encoding="utf-8")
    (d / "json-array.jsonl").write_text(json.dumps([ARENA_OK, ARENA_OK]), encoding="utf-8")
    _jsonl(d / "json-list-line.jsonl", [ARENA_OK, [1, 2, 3]])
    _jsonl(d / "json-scalar-line.jsonl", [ARENA_OK, 42])
    (d / "nan-constant.jsonl").write_text('{"model_a": "m1", "model_b": "m2", "winner": Infinity}\n')
    # arena logs
    _jsonl(d / "arena-bad-winner.jsonl", [ARENA_OK, {**ARENA_OK, "winner": "model_c"}])
    _jsonl(d / "arena-wrong-types.jsonl", [ARENA_OK, {"model_a": 1, "model_b": ["m2"], "winner": {"a": 1}}])
    _jsonl(d / "arena-null-model.jsonl", [ARENA_OK, {**ARENA_OK, "model_b": None}])
    _jsonl(d / "arena-bad-weight.jsonl", [ARENA_OK, {**ARENA_OK, "weight": "heavy"}])
    (d / "arena-bad-winner.csv").write_text("model_a,model_b,winner\nm1,m2,model_a\nm1,m2,draw\n")
    (d / "arena-short-row.csv").write_text("model_a,model_b,winner\nm1,m2,model_a\nm1,m2\n")
    (d / "header-only.csv").write_text("model_a,model_b,winner\n")
    (d / "unknown-columns.csv").write_text("x,y,z\n1,2,3\n")
    _parquet(d / "arena-bad-winner.parquet", {"model_a": ["m1", "m1"], "model_b": ["m2", "m2"], "winner": ["model_a", "??"]})
    _parquet(d / "arena-int-winner.parquet", {"model_a": ["m1"], "model_b": ["m2"], "winner": [1]})
    _parquet(d / "arena-null-model.parquet", {"model_a": ["m1", None], "model_b": ["m2", "m3"], "winner": ["tie", "tie"]})
    _parquet(d / "no-rows.parquet", {"model_a": pa.array([], pa.string()), "model_b": pa.array([], pa.string()), "winner": pa.array([], pa.string())})
    _parquet(d / "unknown-columns.parquet", {"x": [1], "y": [2]})
    # TRL rows
    _jsonl(d / "trl-missing-rejected.jsonl", [TRL_OK, {"prompt": "p", "chosen": "yes"}])
    _jsonl(d / "trl-wrong-types.jsonl", [TRL_OK, {"prompt": "p", "chosen": 5, "rejected": ["no"]}])
    _jsonl(d / "trl-bad-messages.jsonl", [{"chosen": [{"role": "user"}], "rejected": [{"content": 3}]}])
    _parquet(d / "trl-int-chosen.parquet", {"prompt": ["p"], "chosen": [5], "rejected": [6]})
    # hh-rlhf transcripts
    hh = "\n\nHuman: hi\n\nAssistant: "
    _jsonl(d / "hh-no-assistant.jsonl", [{"chosen": hh + "a", "rejected": hh + "b"}, {"chosen": "\n\nHuman: x", "rejected": "\n\nHuman: y"}])
    _jsonl(d / "hh-wrong-types.jsonl", [{"chosen": hh + "a", "rejected": hh + "b"}, {"chosen": None, "rejected": 3}])
    # crowd logs
    (d / "crowd-bad-winner.csv").write_text("left,right,winner,worker,prompt\na,b,left,w1,p\na,b,middle,w1,p\n")
    # prefkit JSONL
    _jsonl(d / "prefkit-bad-outcome.jsonl", [{"type": "pairwise", "a": "x", "b": "y", "outcome": "a"}, {"type": "pairwise", "a": "x", "b": "y", "outcome": "left"}])
    _jsonl(d / "prefkit-bad-type.jsonl", [{"type": "pairwise", "a": "x", "b": "y", "outcome": "a"}, {"type": "vote"}])
    _jsonl(d / "prefkit-short-ranking.jsonl", [{"type": "ranking", "ranking": ["x"]}])
    _jsonl(d / "prefkit-rating-off-scale.jsonl", [{"type": "rating", "item": "x", "scale": [1, 7], "score": 9}])
    _jsonl(d / "prefkit-bad-strength.jsonl", [{"type": "pairwise", "a": "x", "b": "y", "outcome": "a", "strength": "big"}])
    _jsonl(d / "prefkit-self-pair.jsonl", [{"type": "pairwise", "a": "x", "b": "x", "outcome": "a"}])
    _jsonl(d / "prefkit-duplicate-in-ranking.jsonl", [{"type": "ranking", "ranking": ["x", "y", "x"]}])
    _jsonl(d / "prefkit-reversed-scale.jsonl", [{"type": "rating", "item": "x", "scale": [7, 1], "score": 3}])
    _jsonl(d / "prefkit-scores-wrong-type.jsonl", [{"type": "rating", "item": "x", "scale": [1, 7], "scores": [1, 2]}])
    _jsonl(d / "prefkit-nested-ranking.jsonl", [{"type": "ranking", "ranking": [["x", ["y"]], "z"]}])
    _jsonl(d / "prefkit-only-entities.jsonl", [{"type": "item", "id": "x", "text": "t"}])
    _jsonl(d / "arena-huge-number.jsonl", [ARENA_OK, {**ARENA_OK, "weight": 1e400}])
    _jsonl(d / "arena-negative-weight.jsonl", [ARENA_OK, {**ARENA_OK, "weight": -1}])
    _jsonl(d / "arena-duplicate-id.jsonl", [{**ARENA_OK, "id": "x"}, {**ARENA_OK, "id": "x", "winner": "model_b"}])
    (d / "csv-with-nul.csv").write_bytes(b"model_a,model_b,winner\nm1,m2\x00,model_a\n")
    (d / "empty.jsonl.gz").write_bytes(gzip.compress(b""))
    _parquet(d / "arena-list-column.parquet", {"model_a": [["m1"]], "model_b": [["m2"]], "winner": ["model_a"]})
    files = {p.name: p for p in sorted(d.iterdir())}
    files["missing.jsonl"] = d / "missing.jsonl"
    return files


# -- running a command ---------------------------------------------------------------------------------------


def _invoke(args: list[str], stdin: str | bytes | None = None) -> tuple[int, str, str]:
    res = CliRunner().invoke(app, args, input=stdin)
    if res.exception is not None and not isinstance(res.exception, SystemExit):
        import traceback

        tb = "".join(traceback.format_exception(res.exception))
        pytest.fail(f"prefkit {' '.join(args)} raised through the boundary:\n{tb}")
    return res.exit_code, res.stdout, res.stderr


def assert_contract(args: list[str], code: int, out: str, err: str) -> None:
    cmd = "prefkit " + " ".join(args)
    assert code == 2, f"{cmd}: exit {code}, expected 2\nstdout: {out[-2000:]}\nstderr: {err[-2000:]}"
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, f"{cmd}: expected one error: line on stderr, got {len(errors)}:\n{err}"
    assert "Traceback" not in err + out, f"{cmd}: a traceback\n{err}"
    assert "error:" not in out, f"{cmd}: an error: line on stdout\n{out}"
    assert "strict=" not in err, f"{cmd}: the message names a Python argument, not the flag\n{err}"


def _sha(path: Path) -> str | None:
    """Hash of a store file and its WAL companions (None when the store does not exist)."""
    if not path.exists():
        return None
    h = hashlib.sha256()
    for p in (path, path.with_name(path.name + "-wal")):
        if p.exists() and p.is_file():
            h.update(p.read_bytes())
    return h.hexdigest()


# -- fixtures: the corpus, a store, a trained model ---------------------------------------------------------


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict[str, Path]:
    return _bad_data(tmp_path_factory.mktemp("contract") / "bad")


@pytest.fixture(scope="module")
def filled_store(tmp_path_factory) -> Path:
    db = tmp_path_factory.mktemp("store") / "project.db"
    code, out, err = _invoke(["import", str(BATTLES), "--db", str(db)])
    assert code == 0, err
    return db


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, require_peer) -> Path:
    require_peer("torch", "reward")
    out = tmp_path_factory.mktemp("model") / "rm"
    args = ["reward", "train", str(PAIRS), "--encoder", "hashing", "--out", str(out), "--no-cache"]
    code, _, err = _invoke(args)
    assert code == 0, err
    return out


class Scene:
    """Valid arguments for every role, so that one parameter at a time can be made bad."""

    def __init__(self, tmp: Path, store: Path, model: Callable[[], Path]) -> None:
        self.tmp = tmp
        self.store = store
        self._model = model

    def valid(self, path: tuple[str, ...], param: Any) -> str | None:
        role = _role(path, param)
        if role == "data":
            return str(PAIRS if path[0] == "reward" else BATTLES)
        if role == "model":
            return str(self._model())
        if role == "out-file":
            return str(self.tmp / f"out-{param.name}.jsonl")
        if role == "out-dir":
            return str(self.tmp / "model-out")
        if role in ("db", "db-new"):
            return str(self.store)
        return None  # optional outputs (plots) stay off

    def args(self, path: tuple[str, ...], replace: dict[str, str]) -> list[str]:
        """The command line: required parameters valid unless replaced; ``replace`` names any parameter."""
        positional: list[str] = []
        options: list[str] = []
        extra = ["--port", str(self.busy_port)] if path == ("serve",) else []
        for p in COMMANDS[path].params:
            value = replace.get(p.name)
            if value is None and p.required:
                value = self.valid(path, p)
            if value is None:
                continue
            if p.param_type_name == "argument":
                positional.append(value)
            else:
                options += [p.opts[0], value]
        return [*path, *positional, *options, *extra]

    busy_port = 0


@pytest.fixture
def scene(tmp_path, filled_store, request) -> Iterator[Scene]:
    store = tmp_path / "project.db"
    shutil.copy(filled_store, store)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    s = Scene(tmp_path, store, lambda: request.getfixturevalue("model_dir"))
    s.busy_port = listener.getsockname()[1]  # serve must stop on the busy port, never start serving
    try:
        yield s
    finally:
        listener.close()


# -- the cases ------------------------------------------------------------------------------------------------


def _cases(roles: tuple[str, ...]) -> list[Any]:
    out = []
    for path in COMMANDS:
        for p in _path_params(path):
            if _role(path, p) in roles:
                out.append(pytest.param(path, p.name, id=f"{_name(path)}:{p.name}"))
    return out


def _run_bad(scene: Scene, path: tuple[str, ...], name: str, bad: str) -> None:
    args = scene.args(path, {name: bad})
    before = _sha(scene.store)
    code, out, err = _invoke(args)
    assert_contract(args, code, out, err)
    assert _sha(scene.store) == before, f"prefkit {' '.join(args)} changed the store"


# Known breaches, each owned by work in progress elsewhere. Strict: a known case that starts to hold the contract
# fails the test, so that its line here is removed. All of these are the arena reader (a weight that is not a
# number, or negative, is accepted) and its DuckDB scan behind `prefkit rank` (null model names, a text weight,
# duplicate battle ids), which the helper "reader" rewrites; remove the lines once that work is merged.
KNOWN: set[tuple[str, str]] = set()  # (command[:parameter], corpus file) that do not hold the contract yet


@pytest.mark.parametrize("path,name", _cases(("data",)))
def test_bad_data_files(scene: Scene, corpus: dict[str, Path], path: tuple[str, ...], name: str) -> None:
    failures = []
    cases = dict(corpus)
    if path[0] == "reward":  # a valid battle log names models, not responses: nothing to embed
        cases["battles-without-texts.jsonl"] = BATTLES
    for bad_name, bad in cases.items():
        known = (_name(path), bad_name) in KNOWN or (f"{_name(path)}:{name}", bad_name) in KNOWN
        try:
            _run_bad(scene, path, name, str(bad))
        except (AssertionError, pytest.fail.Exception) as exc:
            if not known:
                failures.append(f"[{bad_name}] {exc}")
        else:
            if known:
                failures.append(f"[{bad_name}] now holds the contract: remove it from KNOWN")
    assert not failures, "\n\n".join(failures)


def _bad_outputs(tmp: Path) -> dict[str, str]:
    (tmp / "a-file").write_text("x")
    (tmp / "a-folder").mkdir(exist_ok=True)
    return {
        "missing folder": str(tmp / "no" / "such" / "folder" / "out.png"),
        "a directory": str(tmp / "a-folder"),
        "under a file": str(tmp / "a-file" / "out.png"),
    }


@pytest.mark.parametrize("path,name", _cases(("out-file", "out-plot", "out-dir")))
def test_bad_output_paths(scene: Scene, path: tuple[str, ...], name: str) -> None:
    cases = _bad_outputs(scene.tmp)
    if _role(path, next(p for p in COMMANDS[path].params if p.name == name)) == "out-dir":
        cases.pop("a directory")  # an existing directory is fine for a directory to write
        cases.pop("missing folder")  # and it is created with its parents
        cases["a file"] = str(scene.tmp / "a-file")
    for what, bad in cases.items():
        before = _sha(scene.store)
        args = scene.args(path, {name: bad})
        code, out, err = _invoke(args)
        assert_contract(args, code, out, err)
        assert _sha(scene.store) == before, f"{what}: store changed"


def test_unwritable_output_folder(scene: Scene) -> None:
    """A folder where no file can be created: read-only for a user; /proc even for root (who ignores modes)."""
    ro = scene.tmp / "read-only"
    ro.mkdir()
    ro.chmod(0o500)
    folder = Path("/proc") if os.geteuid() == 0 else ro
    if not folder.is_dir():
        pytest.skip("no folder that root cannot write into")
    try:
        for args in (
            ["convert", str(BATTLES), str(folder / "prefkit-out.parquet")],
            ["reward", "export-trl", str(PAIRS), str(folder / "prefkit-out.jsonl")],
        ):
            code, out, err = _invoke(args)
            assert_contract(args, code, out, err)
            assert "cannot be created" in err or "permission denied" in err, err
    finally:
        ro.chmod(0o700)


@pytest.mark.parametrize("path,name", _cases(("model",)))
def test_bad_model_directories(scene: Scene, path: tuple[str, ...], name: str) -> None:
    (scene.tmp / "empty-dir").mkdir()
    (scene.tmp / "garbage-model").mkdir()
    (scene.tmp / "garbage-model" / "config.json").write_text("{not json")
    (scene.tmp / "garbage-model" / "weights.safetensors").write_bytes(os.urandom(64))
    (scene.tmp / "wrong-config").mkdir()
    (scene.tmp / "wrong-config" / "config.json").write_text(json.dumps({"format": "something else"}))
    (scene.tmp / "wrong-config" / "weights.safetensors").write_bytes(os.urandom(64))
    (scene.tmp / "a-file").write_text("x")
    for bad in ("missing", "empty-dir", "garbage-model", "wrong-config", "a-file"):
        args = scene.args(path, {name: str(scene.tmp / bad)})
        code, out, err = _invoke(args)
        assert_contract(args, code, out, err)


@pytest.mark.parametrize("path,name", _cases(("db", "db-new")))
def test_bad_stores(scene: Scene, path: tuple[str, ...], name: str) -> None:
    role = _role(path, next(p for p in COMMANDS[path].params if p.name == name))
    (scene.tmp / "a-folder").mkdir()
    garbage = scene.tmp / "garbage.db"
    garbage.write_bytes(b"this is not a database" * 100)
    foreign = scene.tmp / "foreign.db"
    import sqlite3

    with sqlite3.connect(foreign) as conn:
        conn.execute("CREATE TABLE pairwise (x TEXT)")
    conn.close()
    cases = {
        "a directory": scene.tmp / "a-folder",
        "missing folder": scene.tmp / "no" / "such" / "project.db",
        "garbage": garbage,
    }
    if role == "db":
        cases["missing"] = scene.tmp / "missing.db"
    for what, bad in cases.items():
        before = _sha(bad) if bad.is_file() else None
        args = scene.args(path, {name: str(bad)})
        code, out, err = _invoke(args)
        assert_contract(args, code, out, err)
        assert (_sha(bad) if bad.is_file() else None) == before, f"{what}: the file given as --db changed"
        if what in ("missing", "missing folder"):
            assert not bad.exists(), f"{what}: a store was created by a failed command"


def test_import_of_bad_file_into_new_store_creates_nothing(scene: Scene, corpus: dict[str, Path]) -> None:
    db = scene.tmp / "new.db"
    for bad in ("arena-bad-winner.jsonl", "garbage.parquet", "truncated.jsonl.gz"):
        args = ["import", str(corpus[bad]), "--db", str(db)]
        assert_contract(args, *_invoke(args))
        assert not db.exists()


def test_plot_path_checked_before_the_simulation(scene: Scene, monkeypatch) -> None:
    """`arena simulate --plot` into a missing folder fails before the (long) simulation starts."""
    from prefkit.ranking.arena import compare

    def never(*a: Any, **k: Any) -> Any:
        raise AssertionError("the simulation ran before the output path was checked")

    monkeypatch.setattr(compare, "compare_policies", never)
    args = ["arena", "simulate", "--plot", str(scene.tmp / "no" / "curves.png")]
    assert_contract(args, *_invoke(args))


def test_stdin_is_read(scene: Scene) -> None:
    code, out, err = _invoke(["info", "-", "--format", "json"], stdin=BATTLES.read_text(encoding="utf-8"))
    assert code == 0, err
    text = BATTLES.read_text(encoding="utf-8")
    assert json.loads(out)["judgments"] == sum(1 for line in text.splitlines() if line.strip())
    args = ["validate", "-"]
    assert_contract(args, *_invoke(args, stdin='{"model_a": "x", "model_b": "y", "winner": "nobody"}\n'))


def test_version_flag() -> None:
    from prefkit import __version__

    for args in (["--version"], ["version"]):
        code, out, _ = _invoke(args)
        assert code == 0 and out.strip() == __version__


@pytest.mark.parametrize("path", list(COMMANDS), ids=_name)
def test_every_command_rejects_an_unknown_option_in_one_line(path: tuple[str, ...]) -> None:
    args = [*path, "--no-such-option-anywhere"]
    assert_contract(args, *_invoke(args))
    code, out, _ = _invoke([*path, "--help"])
    assert code == 0 and "Example" in out


def test_usage_errors_are_one_line() -> None:
    for args in (["no-such-command"], ["rank", str(BATTLES), "--no-such-option"], ["rank"], ["--versio"]):
        assert_contract(args, *_invoke(args))


# -- the real executable ---------------------------------------------------------------------------------------


def _exe(args: list[str], env_extra: dict[str, str] | None = None, **kw: Any) -> tuple[int, str, str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), **(env_extra or {})}
    env = {k: v for k, v in env.items() if v != ""}
    res = subprocess.run([str(EXE), *args], capture_output=True, text=True, timeout=120, env=env, **kw)
    return res.returncode, res.stdout, res.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["validate", "{tmp}/missing.jsonl"],
        ["info", "{tmp}"],
        ["convert", str(BATTLES), "{tmp}/no/such/out.parquet"],
        ["rank", str(BATTLES), "--plot", "{tmp}/no/such/plot.png"],
    ],
    ids=["missing", "directory", "convert-out", "rank-plot"],
)
def test_subprocess_contract(tmp_path: Path, args: list[str]) -> None:
    args = [a.format(tmp=tmp_path) for a in args]
    assert_contract(args, *_exe(args))


def test_subprocess_piped_output_is_not_cut(tmp_path: Path) -> None:
    """Piped, rich tables are not cut at 80 columns (long model names arrive whole)."""
    names = [f"organisation-{k}/a-rather-long-model-name-with-a-version-suffix-v{k}.{k}" for k in range(3)]
    rows = [{"model_a": x, "model_b": y, "winner": w} for x in names for y in names if x != y for w in ("model_a", "model_b")]
    log = _jsonl(tmp_path / "long.jsonl", rows * 5)
    code, out, err = _exe(["rank", str(log), "--ci", "none"], env_extra={"COLUMNS": ""})
    assert code == 0, err
    for name in names:
        assert name in out, out
    assert max(len(line) for line in out.splitlines()) > 80


def test_plain_progress_lines_when_piped(monkeypatch, capsys) -> None:
    from prefkit.cli import _common

    monkeypatch.setattr(_common, "PROGRESS_EVERY_S", 0.0)
    with _common.progress_bar("scoring", total=4) as advance:
        for _ in range(4):
            advance(1)
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("scoring: 1/4 (25%)") and err[-1].endswith("done"), err
    monkeypatch.setattr(_common, "PROGRESS_EVERY_S", 3600.0)
    with _common.progress_bar("quick", total=4) as advance:
        advance(4)
    assert capsys.readouterr().err == ""  # a short step prints nothing


def test_serve_busy_port_fails_before_printing_urls(tmp_path: Path, require_peer) -> None:
    require_peer("uvicorn", "serve")
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        args = ["serve", "--db", str(tmp_path / "p.db"), "--port", str(port)]
        code, out, err = _exe(args)
    assert_contract(args, code, out, err)
    assert "join/" not in out + err, "admin URLs printed for a server that could not start"
    assert str(port) in err
    assert not (tmp_path / "p.db").exists(), "the store was created by a server that could not start"


def test_serve_garbage_store(tmp_path: Path, require_peer) -> None:
    """A file that is not a store stops serve before it listens (a free port: a breach would serve, and time out)."""
    require_peer("uvicorn", "serve")
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"not a database" * 100)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    args = ["serve", "--db", str(garbage), "--port", str(port)]
    assert_contract(args, *_exe(args))


@pytest.mark.parametrize(
    "args,expected",
    [
        (["rank", str(BATTLES), "--ci", "nope"], "error: --ci must be one of"),
        (["rank", str(BATTLES), "--method", "elo", "--ci", "sandwich"], "use --ci bootstrap"),
        (["rank", str(BATTLES), "--level", "2"], "error: --level must be between 0 and 1"),
        (["arena", "simulate", "--k", "1"], "error: --k must be between 2"),
        (["info", "{bad}"], "(or pass --skip-bad to skip such rows)"),
        (["validate", "{bad}"], "(prefkit info FILE --skip-bad lists every bad row)"),
    ],
)
def test_messages_name_flags_not_python_arguments(corpus: dict[str, Path], args: list[str], expected: str) -> None:
    """The library names its arguments (``ci='bootstrap'``, ``strict=False``); the CLI names its flags."""
    args = [a.format(bad=corpus["arena-bad-winner.jsonl"]) for a in args]
    code, out, err = _invoke(args)
    assert_contract(args, code, out, err)
    assert expected in err, err


def test_a_bug_is_one_line_with_status_1(monkeypatch) -> None:
    """Not bad input but a bug: still one line and no traceback, status 1; PREFKIT_DEBUG=1 shows the traceback."""
    import prefkit.data.summary

    def broken(*a: Any, **k: Any) -> Any:
        raise RuntimeError("planted bug")

    monkeypatch.setattr(prefkit.data.summary, "summarize", broken)
    code, out, err = _invoke(["info", str(BATTLES)])
    assert code == 1 and err.count("error:") == 1 and "Traceback" not in err
    assert "internal error (RuntimeError: planted bug)" in err and "PREFKIT_DEBUG=1" in err
    monkeypatch.setenv("PREFKIT_DEBUG", "1")
    res = CliRunner().invoke(app, ["info", str(BATTLES)])
    assert isinstance(res.exception, RuntimeError)
