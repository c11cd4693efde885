"""Remote calls on Ray under one global rate limit: how ``prefkit judge run --engine ray`` spreads its calls.

* :class:`TokenBucket`: a thread-safe token bucket (``rate`` tokens a second, at most ``burst`` saved). Its
  ``reserve()`` books the next free slot and says how long the caller must wait for it, so the bucket itself
  never blocks; a local run uses it directly, a Ray run through one actor that every worker asks.
* :class:`RayCalls`: ``workers`` Ray actors, each building its object once from a picklable ``factory`` (an
  HTTP chat client) and serving ``calls(method, *args)`` from several threads; before each call the worker
  reserves a slot at the shared bucket actor, so the limit holds over the whole cluster, however many workers.
  The caller (the driver's :class:`prefkit.annotation.runner.ChatRunner`) keeps the cache: it reads it before
  sending anything and writes each reply as it arrives, exactly as locally, so a rerun after an interruption
  sends only what was not answered. An exception raised by the object travels back as itself (a transient
  backend error stays retryable); Ray's own failures become one EngineError line.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from typing import Any

from prefkit.errors import EngineError, ValidationError


class TokenBucket:
    """``rate`` calls a second on average, at most ``burst`` at once; ``reserve()`` -> seconds to wait."""

    def __init__(self, rate: float, burst: int = 1, clock: Callable[[], float] = time.monotonic) -> None:
        if not rate > 0:
            raise ValidationError(f"the rate limit must be > 0 calls a second, got {rate}")
        if burst < 1:
            raise ValidationError(f"the burst must be >= 1, got {burst}")
        self.rate = float(rate)
        self.burst = int(burst)
        self.clock = clock
        self._lock = threading.Lock()
        self._next = float("-inf")  # when the next token is free if none are saved (it starts full)
        self.granted = 0

    def reserve(self) -> float:
        """Book one call; return how long to sleep before making it (0 when a token is free now)."""
        with self._lock:
            now = self.clock()
            # saved tokens: the slots between _next and now, at most burst
            earliest = now - (self.burst - 1) / self.rate
            slot = max(self._next, earliest)
            self._next = slot + 1.0 / self.rate
            self.granted += 1
            return max(0.0, slot - now)

    def acquire(self, sleep: Callable[[float], None] = time.sleep) -> None:
        wait = self.reserve()
        if wait > 0:
            sleep(wait)


class _Bucket:
    """The shared bucket as a Ray actor (one per job)."""

    def __init__(self, rate: float, burst: int) -> None:
        self.bucket = TokenBucket(rate, burst)

    def reserve(self) -> float:
        return self.bucket.reserve()

    def granted(self) -> int:
        return self.bucket.granted


class _Caller:
    """One worker: its object built once; each call waits for a slot at the shared bucket."""

    def __init__(self, factory: Callable[[], Any], bucket: Any) -> None:
        self.obj = factory()
        self.bucket = bucket
        self.calls = 0

    def call(self, method: str, args: tuple[Any, ...]) -> tuple[bool, Any]:
        import ray

        if self.bucket is not None:
            wait = ray.get(self.bucket.reserve.remote())
            if wait > 0:
                time.sleep(wait)
        self.calls += 1
        try:
            return True, getattr(self.obj, method)(*args)
        except Exception as exc:  # noqa: BLE001 - returned to the caller, raised there as itself
            return False, exc

    def count(self) -> int:
        return self.calls


class RayCalls:
    """Call methods of ``factory()`` objects living on ``workers`` Ray actors, ``rate`` calls a second in all."""

    def __init__(
        self,
        ray: Any,
        factory: Callable[[], Any],
        *,
        workers: int = 2,
        per_worker: int = 8,
        rate: float | None = None,
        burst: int = 1,
        retries: int = 3,
        env: dict[str, str] | None = None,
    ) -> None:
        if workers < 1:
            raise ValidationError(f"workers must be >= 1, got {workers}")
        self.ray = ray
        self.bucket = (
            ray.remote(_Bucket).options(num_cpus=0, max_concurrency=64).remote(rate, burst)
            if rate is not None
            else None
        )
        cls = ray.remote(_Caller).options(
            num_cpus=0, max_concurrency=per_worker, max_restarts=retries, max_task_retries=retries,
            scheduling_strategy="SPREAD", **({"runtime_env": {"env_vars": env}} if env else {}),
        )  # fmt: skip
        self.actors = [cls.remote(factory, self.bucket) for _ in range(workers)]
        self._next = itertools.cycle(range(workers))
        self._lock = threading.Lock()

    def __call__(self, method: str, *args: Any) -> Any:
        with self._lock:
            actor = self.actors[next(self._next)]
        try:
            ok, value = self.ray.get(actor.call.remote(method, args))
        except Exception as exc:  # the actor died beyond its restarts, the cluster went away, ...
            first = str(exc).strip().splitlines()
            raise EngineError(
                f"a Ray worker failed: {type(exc).__name__}: {first[0] if first else exc}"
            ) from None
        if not ok:
            raise value
        return value

    def counts(self) -> list[int]:
        """Calls made by each worker (for tests and reports)."""
        return [int(c) for c in self.ray.get([a.count.remote() for a in self.actors])]

    def close(self) -> None:
        for a in self.actors:
            self.ray.kill(a)
        if self.bucket is not None:
            self.ray.kill(self.bucket)
