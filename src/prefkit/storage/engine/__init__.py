"""Engines: where bulk work runs (DESIGN.md "Engines").

One small interface sits at the storage floor: stream Parquet shards and reduce them to sufficient statistics
(count tables, feature sums), and map batch functions (encoders, judges) over data. ``local`` runs in this
process (DuckDB, thread pools) and needs nothing extra; ``ray`` runs the same functions on a Ray cluster (the
optional ``ray`` extra). Everything above this package is the same code on a laptop and on a cluster.

* :mod:`.connect`: :func:`connect_ray` (reach a cluster by address, fail within seconds when it does not answer),
  :data:`ENGINES` and :func:`check_engine` (the CLI's ``--engine local|ray``).
* :mod:`.maps`: embeddings on a pool of Ray encoder workers (:class:`~.maps.RayEncoder`, the cache kept on the
  driver) and reward scores of Parquet/JSONL shards through Ray Data (:func:`~.maps.score_shards`, one Parquet
  part per shard, written atomically).
* :mod:`.calls`: remote calls on Ray workers under one global token bucket (:class:`~.calls.RayCalls`,
  :class:`~.calls.TokenBucket`), how ``judge run --engine ray`` spreads its calls.
"""

from __future__ import annotations

from prefkit.storage.engine.connect import (
    ENGINES,
    check_engine,
    connect_ray,
    loopback_only,
    reexec_in_private_network,
)

__all__ = ["ENGINES", "check_engine", "connect_ray", "loopback_only", "reexec_in_private_network"]
