"""Ray maps: embeddings and reward scores on a cluster, each worker holding its model, loaded once.

* :class:`RayEncoder`: the :class:`prefkit.reward.encoders.Encoder` protocol over a pool of Ray actors, each
  holding the encoder the spec describes. It plugs into :class:`prefkit.reward.pipeline.Embedder` in place of
  the local encoder, so the driver reads and fills the embedding cache exactly as a local run does (a later
  local run finds every embedding there); only the texts the cache lacks go to the workers, in chunks.
* :func:`score_shards`: ``prefkit reward score --engine ray``. Input shards (JSONL / Parquet / CSV files) are
  streamed through Ray Data's ``map_batches`` to a pool of stateful scorers (the reward model and its encoder
  loaded once per worker); each shard is read with the local readers (the same ``FILE:LINE`` errors, naming the
  shard), scored with the local code, and written as one Parquet shard, atomically (a temporary file, then a
  rename): a shard retried after a worker died replaces its file with identical rows, so nothing is written
  twice. The workers read and fill the embedding cache in ``cache_dir`` (the same file a local run uses: on a
  cluster of several machines, a directory they share, or each node's own).
"""

from __future__ import annotations

import glob as _glob
import os
import pickle
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from prefkit._progress import ProgressFactory, no_progress
from prefkit.errors import EngineError, PrefkitError, ValidationError

SHARD_SUFFIXES = (".jsonl", ".jsonl.gz", ".json", ".parquet", ".csv", ".csv.gz")
CHUNK = 256  # texts per remote encode call: big enough to amortise the call, small enough to spread


def _cpus(ray: Any) -> int:
    return max(1, int(ray.cluster_resources().get("CPU", 1)))


# ---- embeddings -----------------------------------------------------------------------------------------


class _EncoderWorker:
    """One worker's encoder (built from the spec on the worker, the model loaded on the first call)."""

    def __init__(self, spec: Any, num_threads: int) -> None:
        from prefkit.reward.encoders import make_encoder

        self.encoder = make_encoder(spec, num_threads=num_threads)

    def encode(self, texts: list[str]) -> np.ndarray:
        return self.encoder.encode(texts)

    def warm(self) -> str:
        self.encoder.encode(["warm up"])
        return str(os.getpid())


class RayEncoder:
    """An :class:`~prefkit.reward.encoders.Encoder` whose ``encode`` runs on ``workers`` Ray actors.

    ``name`` is the local encoder's (the same cache file); the result equals the local encoder's up to float
    rounding of the batch composition. A worker that dies is restarted and its chunk retried (``retries``).
    """

    def __init__(
        self, ray: Any, spec: Any, *, workers: int | None = None, threads: int = 1, chunk: int = CHUNK,
        retries: int = 3,
    ) -> None:  # fmt: skip
        from prefkit.reward.encoders import make_encoder

        self.ray = ray
        self.spec = spec
        self.name = make_encoder(spec).name  # cheap: the model loads on first use only
        self.workers = workers or _cpus(ray)
        self.threads = threads
        self.chunk = chunk
        self.retries = retries
        self._actors: list[Any] = []
        self.startup_seconds = 0.0

    def start(self) -> None:
        """Create the actors and load the model on each (the fixed start-up cost, timed)."""
        if self._actors:
            return
        t0 = time.perf_counter()
        cls = self.ray.remote(_EncoderWorker).options(
            num_cpus=self.threads, max_restarts=self.retries, max_task_retries=self.retries
        )
        self._actors = [cls.remote(self.spec, self.threads) for _ in range(self.workers)]
        _get(self.ray, [a.warm.remote() for a in self._actors])
        self.startup_seconds = time.perf_counter() - t0

    def encode(self, texts: Sequence[str], progress: Callable[[int], Any] | None = None) -> np.ndarray:
        texts = list(texts)
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        self.start()
        ray = self.ray
        # longest first, so that each chunk pads little and the slowest chunks start first
        order = np.argsort([-len(t) for t in texts], kind="stable")
        chunks = [order[lo : lo + self.chunk] for lo in range(0, len(texts), self.chunk)]
        out: np.ndarray | None = None
        pending: dict[Any, tuple[int, Any]] = {}
        idle = list(self._actors) * 2  # two chunks queued per worker: it never waits for the driver
        todo = list(range(len(chunks)))[::-1]
        while todo or pending:
            while todo and idle:
                k = todo.pop()
                actor = idle.pop()
                ref = actor.encode.remote([texts[i] for i in chunks[k]])
                pending[ref] = (k, actor)
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                k, actor = pending.pop(ref)
                emb = np.asarray(_get(ray, ref), dtype=np.float32)
                if out is None:
                    out = np.empty((len(texts), emb.shape[1]), dtype=np.float32)
                out[chunks[k]] = emb
                idle.append(actor)
                if progress is not None:
                    progress(len(chunks[k]))
        assert out is not None
        return out

    def close(self) -> None:
        for a in self._actors:
            self.ray.kill(a)
        self._actors = []


def _get(ray: Any, refs: Any) -> Any:
    """``ray.get`` with Ray's failures as one EngineError line (a task's own PrefkitError passes through)."""
    try:
        return ray.get(refs)
    except PrefkitError:
        raise
    except Exception as exc:  # RayTaskError, RayActorError, ObjectLostError, ...
        cause = getattr(exc, "cause", None)
        if isinstance(cause, PrefkitError):
            raise cause from None
        first = str(exc).strip().splitlines()
        raise EngineError(f"the Ray job failed: {type(exc).__name__}: {first[0] if first else exc}") from None


# ---- sharded scoring --------------------------------------------------------------------------------------


def find_shards(path: str | Path) -> list[Path]:
    """The input shards: ``path`` itself (a file), the data files in a directory (sorted), or a glob's files."""
    p = Path(path)
    if p.is_file():
        return [p]
    if p.is_dir():
        found = sorted(q for q in p.iterdir() if q.is_file() and q.name.endswith(SHARD_SUFFIXES))
        where = f"directory {p}"
    else:
        found = sorted(Path(q) for q in _glob.glob(str(path)) if Path(q).is_file())
        where = f"pattern {path}"
    if not found:
        raise ValidationError(
            f"no input shards in {where}: give a file, a directory of {', '.join(SHARD_SUFFIXES)} files, or a glob"
        )
    return found


def part_name(index: int, shard: Path) -> str:
    """The output shard of input shard ``index`` (deterministic: a retry overwrites the same file)."""
    stem = shard.name
    for suffix in SHARD_SUFFIXES:
        if stem.endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    return f"part-{index:05d}-{stem}.parquet"


def write_atomic(table: Any, path: Path) -> None:
    """Write a Parquet file whole or not at all: a temporary name in the same directory, then a rename."""
    import pyarrow.parquet as pq

    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        pq.write_table(table, tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _rows_table(rows: list[dict[str, Any]], shard: str) -> Any:
    import pyarrow as pa

    if not rows:
        return pa.table({"shard": pa.array([], pa.string())})
    return pa.Table.from_pylist([{"shard": shard, **r} for r in rows])


class _ShardScorer:
    """The stateful ``map_batches`` callable: the reward model and its encoder, loaded once per worker."""

    def __init__(
        self, model_dir: str, out_dir: str, cache_dir: str | None, use_cache: bool, fmt: str | None,
        skip_bad: bool, threads: int,
    ) -> None:  # fmt: skip
        from prefkit.reward.encoders import make_encoder
        from prefkit.reward.persist import load_model
        from prefkit.reward.pipeline import Embedder

        self.model = model = load_model(model_dir)
        self.out_dir = Path(out_dir)
        self.fmt = fmt
        self.skip_bad = skip_bad
        self.embedder = Embedder(
            model.encoder, cache_dir=cache_dir, use_cache=use_cache,
            encoder=make_encoder(model.encoder, num_threads=threads),
        )  # fmt: skip

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, list[Any]]:
        out: dict[str, list[Any]] = {
            k: [] for k in ("index", "rows", "encoded", "seconds", "skipped", "error")
        }
        for index, shard in zip(batch["index"].tolist(), batch["shard"].tolist(), strict=True):
            t0 = time.perf_counter()
            encoded0 = self.embedder.n_encoded
            rows, skipped, error = 0, 0, b""
            try:
                rows, skipped = self._score(int(index), Path(str(shard)))
            except PrefkitError as exc:  # travels back whole: the driver raises it as the local run would
                error = pickle.dumps(exc)
            out["index"].append(int(index))
            out["rows"].append(rows)
            out["encoded"].append(self.embedder.n_encoded - encoded0)
            out["seconds"].append(time.perf_counter() - t0)
            out["skipped"].append(skipped)
            out["error"].append(error)
        return out

    def _score(self, index: int, shard: Path) -> tuple[int, int]:
        from prefkit.data import io
        from prefkit.reward.scoring import score_rows

        ds = io.read(shard, self.fmt, strict=not self.skip_bad)
        rows = score_rows(self.model, ds, self.embedder)
        write_atomic(_rows_table(rows, shard.name), self.out_dir / part_name(index, shard))
        return len(rows), len(ds.meta.get("skipped") or [])


@dataclass
class ScoreRun:
    """What a sharded scoring job did."""

    out_dir: Path
    shards: int = 0
    rows: int = 0
    encoded: int = 0
    skipped: int = 0
    seconds: float = 0.0
    parts: list[Path] = field(default_factory=list)


def score_shards(
    ray: Any,
    model_dir: str | Path,
    shards: Sequence[Path],
    out_dir: Path,
    *,
    cache_dir: str | Path | None = None,
    use_cache: bool = True,
    fmt: str | None = None,
    skip_bad: bool = False,
    workers: int | None = None,
    threads: int = 1,
    cpus: float | None = None,
    progress: ProgressFactory = no_progress,
) -> ScoreRun:
    """Score every shard with the reward model in ``model_dir`` on the cluster ``ray`` is connected to; one
    Parquet file per shard in ``out_dir``. The workers read the model, the shards and write ``out_dir`` by
    path: on a cluster of several machines these live on a file system they share.

    The first shard whose data are bad stops the job with that shard's own error (``FILE:LINE``); shards
    already written stay (each is whole). Ray's failures (a worker lost beyond its retries) raise EngineError.
    Each worker runs ``threads`` torch threads and reserves ``cpus`` CPUs (default ``threads``); workers are
    spread over the nodes, and one lost with its node is restarted on another and its shard scored again.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    stale = sorted(out_dir.glob("part-*.parquet"))
    if stale:
        raise ValidationError(
            f"{out_dir} already holds {len(stale)} score shard(s) (e.g. {stale[0].name}); give a new --out "
            "directory or delete them"
        )
    with warnings.catch_warnings():  # Ray Data's own deprecation notices (its context pickles every field)
        warnings.simplefilter("ignore", DeprecationWarning)
        run = _run_scoring(ray, model_dir, shards, out_dir, cache_dir, use_cache, fmt, skip_bad, workers, threads, cpus,
                           progress)  # fmt: skip
    for tmp in out_dir.glob(".part-*.tmp"):  # left by a worker killed while writing; its shard was redone
        tmp.unlink(missing_ok=True)
    run.parts = sorted(out_dir.glob("part-*.parquet"))
    return run


def _run_scoring(
    ray: Any, model_dir: str | Path, shards: Sequence[Path], out_dir: Path, cache_dir: str | Path | None, use_cache: bool,
    fmt: str | None, skip_bad: bool, workers: int | None, threads: int, cpus: float | None,
    progress: ProgressFactory,
) -> ScoreRun:  # fmt: skip
    from prefkit.reward.cache import default_cache_dir

    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    ctx.print_on_execution_start = False
    items = [{"index": i, "shard": str(Path(s).resolve())} for i, s in enumerate(shards)]
    n_workers = max(1, min(workers or _cpus(ray), len(items)))
    cache = (
        str(Path(cache_dir).resolve() if cache_dir is not None else default_cache_dir())
        if use_cache
        else None
    )
    ds = ray.data.from_items(items, override_num_blocks=len(items)).map_batches(
        _ShardScorer,
        fn_constructor_kwargs={
            "model_dir": str(Path(model_dir).resolve()), "out_dir": str(out_dir.resolve()), "cache_dir": cache, "use_cache": use_cache,
            "fmt": fmt, "skip_bad": skip_bad, "threads": threads,
        },
        batch_size=1, concurrency=n_workers, num_cpus=cpus if cpus is not None else threads,
        scheduling_strategy="SPREAD",
    )  # fmt: skip
    run = ScoreRun(out_dir)
    t0 = time.perf_counter()
    try:
        with progress(
            f"scoring {len(items)} shards on {n_workers} Ray workers", float(len(items))
        ) as advance:
            for r in ds.iter_rows():
                if r["error"]:
                    raise pickle.loads(r["error"])  # noqa: S301 - our own worker's exception
                run.shards += 1
                run.rows += int(r["rows"])
                run.encoded += int(r["encoded"])
                run.skipped += int(r["skipped"])
                advance(1)
    except PrefkitError:
        raise
    except Exception as exc:
        first = str(exc).strip().splitlines()
        raise EngineError(
            f"the Ray scoring job failed: {type(exc).__name__}: {first[0] if first else exc}; the shards "
            f"written so far in {out_dir} are whole"
        ) from None
    run.seconds = time.perf_counter() - t0
    return run
