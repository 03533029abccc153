"""`sleitp serve`: the REST API, CDS Hooks 2.0 services and the web page (uvicorn)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from . import app


@app.command("serve")
def serve_cmd(
    host: Annotated[str, typer.Option("--host", help="Address to listen on (loopback by default).")
                    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="TCP port.")] = 8000,
    settings: Annotated[Path | None, typer.Option("--settings", help="Settings file (.json or .toml); "
                                                  "SLEITP_* environment variables override it.")] = None,
    workers: Annotated[int, typer.Option("--workers", min=1, max=16, help="uvicorn worker processes.")] = 1,
) -> None:
    """Serve POST /api/v1/assess and /api/v1/score, GET /cds-services (CDS Hooks 2.0), the page at /
    and GET /healthz. Configuration: docs/service.md."""
    import os

    from ..service.app import load_model_for
    from ..service.logs import configure_logging
    from ..service.runner import serve
    from ..service.settings import load_settings

    loaded = load_settings(settings)  # fail here, with a clear message, not inside a worker
    load_model_for(loaded)  # a missing or tampered model: a ModelError now, not a worker traceback
    configure_logging()
    if settings is not None:
        os.environ["SLEITP_SETTINGS"] = str(settings)
    typer.echo(f"sleitp: serving on http://{host}:{port}  (CDS Hooks: {loaded.base_url}/cds-services)",
               err=True)
    serve(host, port, workers)
