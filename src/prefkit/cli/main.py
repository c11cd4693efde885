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


@app.command()
def version() -> None:
    """Print prefkit's version.

    Example: prefkit version
    """
    from prefkit import __version__

    typer.echo(__version__)


def _register() -> None:
    from prefkit.cli import arena, data, rank, reward, serve, store

    for module in (data, store, rank, arena, reward, serve):
        module.register(app)


_register()


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; every PrefkitError becomes one line on stderr and exit status 2."""
    try:
        app(args=argv, standalone_mode=False)
    except PrefkitError as exc:
        sys.stderr.write(f"error: {exc}\n")
        raise SystemExit(2) from None
    except typer.Exit as exc:
        raise SystemExit(exc.exit_code) from None
    except typer.Abort:
        sys.stderr.write("aborted\n")
        raise SystemExit(1) from None
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        raise SystemExit(130) from None
    except Exception as exc:  # click usage errors
        import click

        if isinstance(exc, click.exceptions.ClickException):
            exc.show()
            raise SystemExit(exc.exit_code) from None
        raise
    else:
        raise SystemExit(0)


if __name__ == "__main__":  # pragma: no cover
    main()
