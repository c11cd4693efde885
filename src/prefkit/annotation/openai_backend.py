"""Any OpenAI-compatible chat endpoint (OpenAI, vLLM, Ollama, llama.cpp servers) through the ``openai`` client.

The API key comes from the environment (``OPENAI_API_KEY`` by default, or the variable named by ``key_env``);
local servers need none. The client's own retries are off: :class:`~prefkit.annotation.runner.ChatRunner`
retries, so that every retry is counted and a request that keeps failing is reported, not raised.
"""

from __future__ import annotations

import os
from typing import Any

from prefkit._optional import require
from prefkit.annotation.runner import TransientBackendError
from prefkit.annotation.types import ChatReply, ChatRequest
from prefkit.errors import BackendError, ValidationError


class OpenAIChat:
    """Chat completions from ``base_url`` (None: api.openai.com) with ``model``."""

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        key_env: str = "OPENAI_API_KEY",
        timeout: float = 60.0,
        key: str | None = None,
    ) -> None:
        if not model:
            raise ValidationError("model: give the model name the server knows (e.g. gpt-4o-mini)")
        if timeout <= 0:
            raise ValidationError(f"timeout must be > 0 seconds, got {timeout}")
        openai = require("openai", "judge")
        api_key = os.environ.get(key_env)
        if api_key is None and base_url is None:
            raise ValidationError(
                f"no API key: set {key_env} in the environment (or give --base-url for a local server)"
            )
        self.model = model
        self.base_url = base_url
        self._key = key or f"openai:{base_url or 'api.openai.com'}:{model}"
        self._openai = openai
        self._client = openai.OpenAI(
            base_url=base_url, api_key=api_key or "none", timeout=timeout, max_retries=0
        )

    @property
    def key(self) -> str:
        return self._key

    def complete(self, request: ChatRequest) -> ChatReply:
        o = self._openai
        kw: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": r, "content": c} for r, c in request.messages],
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
        }
        if request.seed is not None:
            kw["seed"] = request.seed
        if request.top_logprobs:
            kw["logprobs"] = True
            kw["top_logprobs"] = request.top_logprobs
        where = self.base_url or "api.openai.com"
        try:
            resp = self._client.chat.completions.create(**kw)
        except (o.RateLimitError, o.InternalServerError, o.APITimeoutError, o.APIConnectionError) as exc:
            raise TransientBackendError(f"{where}: {type(exc).__name__}: {_short(exc)}") from exc
        except o.APIResponseValidationError as exc:
            raise TransientBackendError(
                f"{where}: the reply is not a chat completion ({_short(exc)})"
            ) from exc
        except o.NotFoundError as exc:
            raise BackendError(
                f"{where}: model {self.model!r} not found ({_short(exc)}); check --model against the "
                "server's model list (GET /v1/models)"
            ) from exc
        except (o.AuthenticationError, o.PermissionDeniedError) as exc:
            raise BackendError(
                f"{where}: refused the API key ({_short(exc)}); check the key variable"
            ) from exc
        except o.APIStatusError as exc:
            if exc.status_code >= 500 or exc.status_code == 429:
                raise TransientBackendError(f"{where}: HTTP {exc.status_code}: {_short(exc)}") from exc
            raise BackendError(f"{where}: HTTP {exc.status_code}: {_short(exc)}") from exc
        except o.OpenAIError as exc:
            raise TransientBackendError(f"{where}: {type(exc).__name__}: {_short(exc)}") from exc
        except ValueError as exc:  # a body that is not JSON at all
            raise TransientBackendError(f"{where}: the reply is not JSON ({_short(exc)})") from exc
        return _reply(resp, where)


def _short(exc: Exception) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= 200 else text[:200] + "..."


def _reply(resp: Any, where: str) -> ChatReply:
    choices = getattr(resp, "choices", None)
    if not choices or getattr(choices[0], "message", None) is None:
        raise TransientBackendError(f"{where}: the reply has no choices[0].message")
    choice = choices[0]
    text = choice.message.content
    if text is not None and not isinstance(text, str):
        raise TransientBackendError(f"{where}: the reply's message content is not text")
    steps: list[tuple[tuple[str, float], ...]] = []
    lp = getattr(choice, "logprobs", None)
    for tok in getattr(lp, "content", None) or []:
        tops = getattr(tok, "top_logprobs", None) or []
        steps.append(tuple((str(t.token), float(t.logprob)) for t in tops))
    usage = getattr(resp, "usage", None)
    return ChatReply(
        text=text or "",
        prompt_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
        completion_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
        logprobs=tuple(steps),
    )
