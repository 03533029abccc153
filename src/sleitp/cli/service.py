"""`sleitp serve`: the REST API, CDS Hooks 2.0 services and the web page (uvicorn)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sleitp.cli import app

# shown by `sleitp serve --help` (and docs/service.md, README): every SLEITP_* variable the service reads
ENVIRONMENT_HELP = """Environment (all optional; a variable wins over the settings file):

SLEITP_API_TOKENS: comma-separated bearer tokens for /api/*, each at least 16 characters (unset: /api/* is
open).

SLEITP_BASE_URL: the public URL the service is reached at; CDS Hooks JWTs must carry
aud = BASE_URL/cds-services/ID and cards link to BASE_URL/about (default: http://HOST:PORT of this command).

SLEITP_MODEL_DIR: a model folder written by `sleitp train` (unset: no prediction).

SLEITP_SETTINGS: a settings file (.json or .toml), as --settings.

SLEITP_CDS_CLIENTS: JSON list of trusted EHRs (issuer and keys; docs/service.md).

SLEITP_CDS_ALLOW_UNAUTHENTICATED=1: accept CDS Hooks calls without a JWT (sandbox only).

SLEITP_CDS_OUT_OF_SCOPE_CARD=1: an out-of-scope patient gets one info card saying why (default: no card).

SLEITP_MAX_BODY_BYTES: request body limit (default 1048576); SLEITP_CORS_ORIGINS: comma-separated origins;
SLEITP_EXAMPLES_DIR: example records for the page; SLEITP_FHIR_ALLOW_HTTP=1: plain-http FHIR servers
(testing); SLEITP_FEEDBACK_FILE: JSON Lines file for CDS Hooks feedback; SLEITP_FEEDBACK_KEEP_COMMENTS=1:
keep override comment text.
"""


def local_base_url(host: str, port: int) -> str:
    """The URL this process serves on, for SLEITP_BASE_URL when none is configured."""
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else ("[::1]" if host == "::" else host)
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"
    return f"http://{shown}:{port}"


@app.command("serve", epilog=ENVIRONMENT_HELP)
def serve_cmd(
    host: Annotated[str, typer.Option("--host", help="Address to listen on (loopback by default).")
                    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="TCP port.")] = 8000,
    settings: Annotated[Path | None, typer.Option("--settings", help="Settings file (.json or .toml); "
                                                  "SLEITP_* environment variables override it.")] = None,
    workers: Annotated[int, typer.Option("--workers", min=1, max=16, help="uvicorn worker processes.")] = 1,
) -> None:
    """Serve POST /api/v1/assess and /api/v1/score, GET /cds-services (CDS Hooks 2.0), the page at /
    and GET /healthz. Configuration: docs/service.md and the environment variables below."""
    import os

    # lazy: FastAPI, uvicorn and the service stack are loaded only by `sleitp serve`
    from sleitp.service.app import load_model_for
    from sleitp.service.logs import configure_logging
    from sleitp.service.runner import serve
    from sleitp.service.settings import load_settings

    loaded = load_settings(settings)  # fail here, with a clear message, not inside a worker
    if "base_url" not in loaded.model_fields_set:
        # no base URL configured: the one this command serves on (the workers read it from the environment)
        os.environ["SLEITP_BASE_URL"] = local_base_url(host, port)
        loaded = load_settings(settings)
    load_model_for(loaded)  # a missing or tampered model: a ModelError now, not a worker traceback
    configure_logging()
    if settings is not None:
        os.environ["SLEITP_SETTINGS"] = str(settings)
    typer.echo(f"sleitp: serving on http://{host}:{port}  (CDS Hooks: {loaded.base_url}/cds-services)",
               err=True)
    serve(host, port, workers)
