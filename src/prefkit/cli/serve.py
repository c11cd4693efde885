"""``prefkit serve``: run the web app (annotation, arena, leaderboards, API) on a project SQLite file."""

from __future__ import annotations

import errno
import gc
from pathlib import Path

import typer

from prefkit.cli._common import console, print_json, store_file


def register(app: typer.Typer) -> None:
    """Add this group's commands to the main app."""
    app.command("serve")(serve)


def check_port(host: str, port: int) -> None:
    """Fail now, with one line, when ``host:port`` cannot be listened on (in use, or a bad host)."""
    import socket

    from prefkit.errors import ValidationError

    if not 0 <= port <= 65535:
        raise ValidationError(f"--port must be between 0 and 65535, got {port}")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ValidationError(f"--host {host!r} is not an address of this machine ({exc.strerror})") from None
    family, kind, proto, _, addr = infos[0]
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
        try:
            sock.bind(addr)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise ValidationError(
                    f"port {port} on {host} is already in use (another prefkit serve?); stop that server or "
                    "choose another --port"
                ) from None
            raise ValidationError(
                f"cannot listen on {host}:{port} ({exc.strerror}); choose another --host/--port"
            ) from None


def serve(
    db: Path = typer.Option(
        ..., "--db", help="project SQLite file (created if missing)", callback=store_file
    ),
    host: str = typer.Option(
        "127.0.0.1", "--host", help="interface to listen on (127.0.0.1: this machine only)"
    ),
    port: int = typer.Option(8000, "--port", help="TCP port"),
    demo: bool = typer.Option(
        False, "--demo", help="create (idempotently) a demo campaign and arena from shipped example data"
    ),
    admin_token: str = typer.Option(
        None,
        "--admin-token",
        envvar="PREFKIT_ADMIN_TOKEN",
        help="admin secret (default: one created on the first start, printed then, stored only as a hash)",
    ),
    synchronous: str = typer.Option(
        "FULL", "--synchronous", help="SQLite durability: FULL (power-safe) or NORMAL (crash-safe)"
    ),
    rate: float = typer.Option(
        20.0, "--rate", help="requests per second allowed per token (bursts up to 3x)"
    ),
    arena_cap: int = typer.Option(
        1000, "--arena-cap", help="arena matches dealt per token and arena (votes and discarded matches alike)"
    ),
    base_url: str = typer.Option(
        "", "--base-url", help="public URL printed in links (default http://HOST:PORT)"
    ),
    output: str = typer.Option(
        "text", "--format", help="text, or json: print the URLs as one JSON object, then serve"
    ),
) -> None:
    """Start the web app: annotation campaigns, a live K-wise arena, leaderboards and a JSON API (docs at /docs).

    Prints the admin URL (and with --demo an annotator invite URL), then serves until Ctrl-C.

    Example: prefkit serve --db project.db --demo --port 8000
    """
    from prefkit._optional import require

    require("uvicorn", "serve")
    import uvicorn

    check_port(host, port)  # before anything is created or printed

    from prefkit.service import Settings, create_app

    settings = Settings(
        db_path=db,
        admin_token=admin_token,
        synchronous=synchronous,
        rate_per_s=rate,
        arena_cap=arena_cap,
        rate_burst=max(3 * rate, 10.0),
        base_url=base_url or f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}",
    )
    app = create_app(settings)
    svc = app.state.svc
    base = settings.base_url
    # the admin token is stored hashed: its link is printed when it is created (or given with --admin-token)
    admin = (
        f"{base}/join/{svc.admin_token}"
        if svc.admin_token
        else "shown when it was created (or pass --admin-token)"
    )
    urls = {"admin": admin, "docs": f"{base}/docs"}
    if demo:
        from prefkit.service.demo import ensure_demo

        info = ensure_demo(svc)
        urls["annotator"] = f"{base}/join/{info.annotator_token}"
        urls["arena"] = f"{base}/a/{info.arenas[0]}"
        urls["leaderboard"] = f"{base}/a/{info.arenas[0]}/leaderboard"
    from prefkit.service import repo

    for arena in repo.list_arenas(svc.db()):  # each arena's engine, built now rather than on the first match
        svc.arenas.runtime(arena)
    # the objects built so far (the app, its imports, the caches) live as long as the process: keep them out
    # of the cyclic collector, whose full passes over them otherwise pause every request for ~50-90 ms
    gc.collect()
    gc.freeze()
    if output == "json":
        print_json(urls)
    else:
        console.print(f"[bold]prefkit serve[/bold] on {db}")
        for k, v in urls.items():
            console.print(f"  {k:<12} {v}", soft_wrap=True, highlight=False)
        console.print("Press Ctrl-C to stop.")
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False, timeout_graceful_shutdown=5)
