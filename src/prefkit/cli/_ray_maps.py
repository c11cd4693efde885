"""The ``--engine local|ray`` options of the bulk map commands (``reward score``, ``reward train``, ``judge run``)
and their adapters onto :mod:`prefkit.storage.engine` (the Ray encoder pool, the sharded scorer, remote calls)."""

from __future__ import annotations

import glob
from pathlib import Path
from typing import Any

import typer

from prefkit.cli._common import input_file, output_dir, output_file
from prefkit.errors import ValidationError

ENGINE_HELP = (
    "Where the bulk work runs: local (this process, the default) or ray (a Ray cluster; the ray extra)."
)
ADDRESS_HELP = (
    "HOST:PORT of a running Ray head (what `ray start --head` prints), or auto (RAY_ADDRESS); default: a private "
    "Ray started in this process. Only with --engine ray."
)
WORKERS_HELP = "Ray workers (default: one per CPU of the cluster). Only with --engine ray."


def engine_option() -> Any:
    return typer.Option("local", "--engine", help=ENGINE_HELP)


def address_option() -> Any:
    return typer.Option(None, "--ray-address", help=ADDRESS_HELP)


def workers_option() -> Any:
    return typer.Option(None, "--workers", help=WORKERS_HELP)


def connect(engine: str, address: str | None, workers: int | None = None) -> Any:
    """Check the options; return the connected ``ray`` module for ``--engine ray``, None for local."""
    from prefkit.storage.engine import check_engine, connect_ray

    check_engine(engine, address)
    if workers is not None and engine != "ray":
        raise ValidationError("--workers only applies to --engine ray; add --engine ray or drop it")
    if workers is not None and workers < 1:
        raise ValidationError(f"--workers must be >= 1, got {workers}")
    if engine == "local":
        return None
    return connect_ray(address)


def input_shards(path: Path | None) -> Path | None:
    """A data file, or (for ``--engine ray``) a directory or glob of shards; checked as a file otherwise."""
    if path is None or str(path) == "-":
        return input_file(path)
    if path.is_dir() or (not path.exists() and glob.has_magic(str(path))):
        return path
    return input_file(path)


def output_file_or_dir(path: Path | None) -> Path | None:
    """A file to write, or (for ``--engine ray``) a directory of Parquet shards (an existing one is kept)."""
    if path is not None and path.is_dir():
        return output_dir(path)
    return output_file(path)


def ray_embedder(
    ray: Any, spec: Any, cache_dir: Path | None, no_cache: bool, progress: Any, workers: int | None
):
    """An Embedder whose encoder is a pool of Ray workers; the cache is read and filled here, as locally."""
    from prefkit.reward.pipeline import Embedder
    from prefkit.storage.engine.maps import RayEncoder

    return Embedder(
        spec, cache_dir=cache_dir, use_cache=not no_cache, progress=progress,
        encoder=RayEncoder(ray, spec, workers=workers),
    )  # fmt: skip


class RayChat:
    """A chat backend whose calls run on Ray workers (see :class:`prefkit.storage.engine.calls.RayCalls`)."""

    def __init__(self, key: str, calls: Any) -> None:
        self._key = key
        self.calls = calls

    @property
    def key(self) -> str:
        return self._key

    def complete(self, request: Any) -> Any:
        return self.calls("complete", request)


class RateLimitedChat:
    """A local chat backend under a token bucket (``--rate`` with the local engine)."""

    def __init__(self, backend: Any, rate: float) -> None:
        from prefkit.storage.engine.calls import TokenBucket

        self.backend = backend
        self.bucket = TokenBucket(rate)

    @property
    def key(self) -> str:
        return str(self.backend.key)

    def complete(self, request: Any) -> Any:
        self.bucket.acquire()
        return self.backend.complete(request)


def spread_calls(ray: Any | None, *, workers: int | None, rate: float | None, per_worker: int) -> Any:
    """The ``JudgeOptions.spread`` hook: calls on Ray workers (one global rate limit), or rate-limited here."""
    if rate is not None and not rate > 0:
        raise ValidationError(f"--rate must be > 0 calls a second, got {rate}")
    if ray is None:
        if rate is None:
            return None
        return lambda backend, factory: RateLimitedChat(backend, rate)

    def spread(backend: Any, factory: Any) -> Any:
        import os

        from prefkit.storage.engine.calls import RayCalls

        n = workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
        env = {k: os.environ[k] for k in ("OPENAI_API_KEY",) if k in os.environ}
        return RayChat(
            backend.key, RayCalls(ray, factory, workers=n, per_worker=per_worker, rate=rate, env=env)
        )

    return spread
