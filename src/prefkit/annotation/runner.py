"""Run many chat requests against one backend: cache first, then a bounded thread pool with retries.

A transient failure (rate limit 429, server error 5xx, timeout, connection error, a reply that is not a valid
chat completion) is retried with exponential backoff; after the last try the request is reported as failed
(its :class:`BackendError` is returned in its place) and the run goes on. A permanent failure (unknown model,
bad credentials, a request the server refuses) stops the run with a BackendError: every reply obtained so far
is already in the cache.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field

from prefkit.annotation.types import ChatBackend, ChatReply, ChatRequest, ReplyCache
from prefkit.errors import BackendError, ValidationError


def request_key(backend: str, request: ChatRequest) -> str:
    """The cache key of ``request`` on ``backend``: SHA-256 of both (messages and every sampling parameter)."""
    body = json.dumps({"backend": backend, **asdict(request)}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def encode_reply(reply: ChatReply) -> str:
    d = asdict(reply)
    d.pop("cached")
    return json.dumps(d, ensure_ascii=False)


def decode_reply(text: str) -> ChatReply:
    d = json.loads(text)
    lp = tuple(tuple((str(t), float(v)) for t, v in step) for step in d.get("logprobs", ()))
    return ChatReply(
        text=d["text"],
        prompt_tokens=int(d.get("prompt_tokens", 0)),
        completion_tokens=int(d.get("completion_tokens", 0)),
        logprobs=lp,
        cached=True,
    )


class TransientBackendError(BackendError):
    """A failure worth retrying (rate limit, timeout, server error, garbled reply)."""


@dataclass
class RunStats:
    """What a run cost: calls made and cached, failures, retries and tokens."""

    calls: int = 0
    cached: int = 0
    failed: int = 0
    retries: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    errors: list[str] = field(default_factory=list)


class ChatRunner:
    """Answers lists of requests with ``backend``: ``concurrency`` calls at a time, ``retries`` retries each."""

    def __init__(
        self,
        backend: ChatBackend,
        *,
        cache: ReplyCache | None = None,
        concurrency: int = 4,
        retries: int = 3,
        backoff: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if concurrency < 1:
            raise ValidationError(f"concurrency must be >= 1, got {concurrency}")
        if retries < 0:
            raise ValidationError(f"retries must be >= 0, got {retries}")
        self.backend = backend
        self.cache = cache
        self.concurrency = concurrency
        self.retries = retries
        self.backoff = backoff
        self.sleep = sleep
        self.stats = RunStats()

    def _call(self, request: ChatRequest) -> ChatReply | BackendError:
        for attempt in range(self.retries + 1):
            try:
                reply = self.backend.complete(request)
            except TransientBackendError as exc:
                if attempt == self.retries:
                    return exc
                self.stats.retries += 1
                self.sleep(self.backoff * 2**attempt)
                continue
            if self.cache is not None:
                key = self.backend.key
                self.cache.put(
                    request_key(key, request),
                    key,
                    json.dumps(asdict(request), ensure_ascii=False),
                    encode_reply(reply),
                )
            return reply
        raise AssertionError("unreachable")  # pragma: no cover

    def run(
        self, requests: Sequence[ChatRequest], progress: Callable[[int], None] | None = None
    ) -> list[ChatReply | BackendError]:
        """One reply (or the BackendError of a request that kept failing) per request, in order."""
        advance = progress or (lambda n: None)
        out: list[ChatReply | BackendError | None] = [None] * len(requests)
        todo: dict[ChatRequest, list[int]] = {}
        for i, req in enumerate(requests):
            raw = self.cache.get(request_key(self.backend.key, req)) if self.cache is not None else None
            hit = decode_reply(raw) if raw is not None else None
            if hit is not None:
                out[i] = hit
                self.stats.cached += 1
                advance(1)
            else:
                todo.setdefault(req, []).append(i)
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            futures = {pool.submit(self._call, req): idx for req, idx in todo.items()}
            pending = set(futures)
            while pending:
                done, pending = wait(pending, return_when=FIRST_EXCEPTION)
                for fut in done:
                    exc = fut.exception()
                    if exc is not None:
                        for p in pending:
                            p.cancel()
                        raise exc
                    res = fut.result()
                    for i in futures[fut]:
                        out[i] = res
                    self._count(res, len(futures[fut]))
                    advance(len(futures[fut]))
        return [r for r in out if r is not None]

    def _count(self, res: ChatReply | BackendError, n: int) -> None:
        if isinstance(res, BackendError):
            self.stats.failed += n
            if len(self.stats.errors) < 20:
                self.stats.errors.append(str(res))
        else:
            self.stats.calls += 1
            self.stats.prompt_tokens += res.prompt_tokens
            self.stats.completion_tokens += res.completion_tokens
