"""Entry point of the ``prefkit`` command: one typer app, each command group in its own module."""

from __future__ import annotations

import typer

from prefkit.cli._boundary import BoundaryGroup

app = typer.Typer(
    cls=BoundaryGroup,
    name="prefkit",
    help="prefkit: collect, aggregate, model, explain and use preference data.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _print_version(value: bool) -> None:
    if value:
        from prefkit import __version__

        typer.echo(__version__)
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", help="Print prefkit's version and exit.", callback=_print_version, is_eager=True
    ),
) -> None:
    """prefkit: collect, aggregate, model, explain and use preference data."""


@app.command()
def version() -> None:
    """Print prefkit's version.

    Example: prefkit version
    """
    from prefkit import __version__

    typer.echo(__version__)


def _register() -> None:
    from prefkit.cli import (
        arena,
        bench,
        data,
        explain,
        judge,
        optimize,
        principles,
        rank,
        reward,
        route,
        serve,
        store,
    )

    for module in (data, store, rank, arena, reward, explain, principles, judge, bench, optimize, route, serve):
        module.register(app)


_register()


def main(argv: list[str] | None = None) -> None:
    """Run the CLI. Errors become one ``error:`` line on stderr: exit status 2 for bad input (a PrefkitError, a
    usage error, a path the system refuses), 1 for a bug (see :mod:`prefkit.cli._boundary`)."""
    app(args=argv, prog_name="prefkit")


if __name__ == "__main__":  # pragma: no cover
    main()
