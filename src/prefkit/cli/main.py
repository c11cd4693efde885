"""Entry point of the ``prefkit`` command: one typer app, each command group in its own module."""

from __future__ import annotations

import sys

import typer

from prefkit.errors import PrefkitError

app = typer.Typer(
    name="prefkit",
    help="prefkit: collect, aggregate, model, explain and use preference data.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root() -> None:
    """prefkit: collect, aggregate, model, explain and use preference data."""


@app.command()
def version() -> None:
    """Print prefkit's version.

    Example: prefkit version
    """
    from prefkit import __version__

    typer.echo(__version__)


def _register() -> None:
    from prefkit.cli import arena, data, optimize, rank, reward, serve, store

    for module in (data, store, rank, arena, reward, optimize, serve):
        module.register(app)


_register()


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; every PrefkitError becomes one line on stderr and exit status 2.

    Usage errors (unknown option, missing argument) are reported by typer, also with exit status 2.
    """
    try:
        app(args=argv, prog_name="prefkit")
    except PrefkitError as exc:
        sys.stderr.write(f"error: {exc}\n")
        raise SystemExit(2) from None


if __name__ == "__main__":  # pragma: no cover
    main()
