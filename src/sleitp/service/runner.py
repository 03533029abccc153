"""Running the app under uvicorn, with one fix for several worker processes.

With ``--workers`` > 1 uvicorn binds the listening socket itself (protocol 0), and asyncio only switches
Nagle's algorithm off (``TCP_NODELAY``) on connections whose socket says ``IPPROTO_TCP``. Every response
(written as two sends: headers, then body) then waits for the client's delayed ACK: about 45 ms a request
instead of 1.7 ms, measured here with a trivial ASGI app (uvicorn 0.54, h11). Linux passes ``TCP_NODELAY``
from a listening socket to the connections it accepts, so it is set on the listening socket.
"""

from __future__ import annotations

import socket

import uvicorn
from uvicorn.supervisors import Multiprocess

__all__ = ["APP", "serve"]

APP = "sleitp.service.app:create_app"


class _Config(uvicorn.Config):
    def bind_socket(self) -> socket.socket:
        sock = super().bind_socket()
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock


def serve(host: str, port: int, workers: int = 1) -> None:
    """Serve the app (built by :func:`sleitp.service.app.create_app` in each worker) until interrupted.

    uvicorn's access log stays off: it writes full paths and query strings (see sleitp.service.logs).
    """
    config = _Config(APP, factory=True, host=host, port=port, workers=workers, access_log=False,
                     server_header=False, log_level="warning")
    if workers > 1:
        Multiprocess(config, sockets=[config.bind_socket()]).run()
    else:
        uvicorn.Server(config).run()
