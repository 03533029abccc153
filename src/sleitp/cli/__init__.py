"""The `sleitp` command line (contract: ../shared/spec/cli.md).

One Typer app; each group of commands lives in its own module and registers itself on ``app``.
``main()`` is the only error boundary: a :class:`~sleitp.errors.SleitpError` (bad user input) becomes a
one-paragraph message on standard error and exit status 2, never a traceback.
"""

from __future__ import annotations

import sys

import typer

from ..errors import SleitpError

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

# registration: each module adds its commands to `app` (or `cohort_app`); this order is the --help order
# isort: off
from . import one_patient  # noqa: E402,F401  score, schema
from . import assess  # noqa: E402,F401  assess
from . import synth  # noqa: E402,F401  synth
from . import derive  # noqa: E402,F401  cohort derive
from . import analytics  # noqa: E402,F401  cohort table1 / km / associations
from . import models  # noqa: E402,F401  train, validate
from . import service  # noqa: E402,F401  serve
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
    except Exception as e:  # click usage errors and the like
        import click

        if isinstance(e, click.exceptions.ClickException):
            e.show()
            sys.exit(e.exit_code)
        raise
