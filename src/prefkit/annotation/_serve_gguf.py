"""``python -m prefkit.annotation._serve_gguf MODEL.gguf PORT THREADS PARALLEL CTX``: serve a GGUF file with
xllamacpp (an OpenAI-compatible server on 127.0.0.1:PORT) until killed. Run by :mod:`prefkit.annotation.local`."""

from __future__ import annotations

import os
import signal
import sys
import threading


def main(argv: list[str]) -> None:
    import xllamacpp

    path, port, threads, parallel, ctx = argv[0], int(argv[1]), int(argv[2]), int(argv[3]), int(argv[4])
    p = xllamacpp.CommonParams()
    p.model.path = path
    p.port = port
    p.n_parallel = parallel
    p.n_ctx = ctx * parallel
    p.cpuparams.n_threads = threads
    p.cpuparams_batch.n_threads = threads
    server = xllamacpp.Server(p)
    print(f"listening {server.listening_address}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    parent = os.getppid()
    while not stop.wait(1.0):
        if os.getppid() != parent:  # the parent died without stopping us: do not linger
            break


if __name__ == "__main__":
    main(sys.argv[1:])
