"""The `sleitp` command line (contract: docs/cli.md, which follows the shared spec/cli.md).

One Typer app; each group of commands lives in its own module and registers itself on ``app``.
``main()`` is the only error boundary: a :class:`~sleitp.errors.SleitpError` (bad user input) becomes a
one-paragraph message on standard error and exit status 2, and a usage mistake (unknown command or
option, missing argument, bad value) Click's usage message and exit status 2: never a traceback.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from sleitp import __version__
from sleitp.errors import SleitpError

try:  # Typer >= 0.20 vendors Click as typer._click; its usage errors are not click's classes
    from typer._click.exceptions import ClickException as _TyperClickException
except ImportError:  # pragma: no cover - an older Typer on plain Click
    from click.exceptions import ClickException as _TyperClickException
from click.exceptions import ClickException as _ClickException

_USAGE_ERRORS = (_TyperClickException, _ClickException)

app = typer.Typer(
    name="sleitp",
    help="Decision support and cohort analytics for immune thrombocytopenia in SLE (SLE-ITP). "
    "Decision support, not a prescription.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

cohort_app = typer.Typer(help="Cohorts: derive IWG outcomes and predictors, Table 1, survival curves, "
                         "predictor associations.", no_args_is_help=True)
app.add_typer(cohort_app, name="cohort")


def _print_version(value: bool) -> None:
    if value:
        print(f"sleitp {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    show_version: Annotated[bool, typer.Option("--version", callback=_print_version, is_eager=True,
                                               help="Print the version and exit.")] = False,
) -> None:
    """Decision support and cohort analytics for immune thrombocytopenia in SLE (SLE-ITP).
    Decision support, not a prescription."""

# registration: each module adds its commands to `app` (or `cohort_app`); this order is the --help order
# isort: off
from sleitp.cli import one_patient  # noqa: E402,F401  score, schema
from sleitp.cli import assess  # noqa: E402,F401  assess
from sleitp.cli import synth  # noqa: E402,F401  synth
from sleitp.cli import derive  # noqa: E402,F401  cohort derive
from sleitp.cli import analytics  # noqa: E402,F401  cohort table1 / km / associations
from sleitp.cli import models  # noqa: E402,F401  train, validate
from sleitp.cli import predict  # noqa: E402,F401  predict (score a derived cohort)
from sleitp.cli import service  # noqa: E402,F401  serve
from sleitp.cli import fhir_view  # noqa: E402,F401  fhir view
# isort: on


def main() -> None:
    try:
        app(standalone_mode=False)
    except SleitpError as e:
        print(f"sleitp: error: {e}", file=sys.stderr)
        sys.exit(2)
    except typer.Exit as e:
        sys.exit(e.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        print("sleitp: aborted", file=sys.stderr)
        sys.exit(130)
    except _USAGE_ERRORS as e:  # usage errors: Click's own message (usage line + one line), exit 2
        e.show()
        sys.exit(2)
    except OSError as e:  # a file the command itself writes or reads, outside SleitpError
        print(f"sleitp: error: {_os_error(e)}", file=sys.stderr)
        sys.exit(2)
    except Exception as e:  # a bug in sleitp: one line, exit 1; the traceback only when asked for
        if os.environ.get("SLEITP_DEBUG"):
            raise
        print(f"sleitp: internal error ({type(e).__name__}): this is a bug in sleitp, not in your input; "
              "run again with SLEITP_DEBUG=1 for the traceback and report it", file=sys.stderr)
        sys.exit(1)


def _os_error(e: OSError) -> str:
    """An OSError in words: the file and the reason, without Python's ``[Errno 21]``."""
    what = e.strerror or type(e).__name__
    return f"{e.filename}: {what.lower()}" if e.filename else what.lower()
