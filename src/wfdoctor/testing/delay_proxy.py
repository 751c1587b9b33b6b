"""A TCP proxy that holds back each response's first bytes: an injected TTFT delay.

Put in front of a real server (`DelayProxy(target_port, delay_s)`), it turns
that server into a slow council member without touching the server.
"""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType


class DelayProxy:
    """Forwards 127.0.0.1:`port` to 127.0.0.1:`target_port`, delaying the first
    response bytes after every request by `delay_s`."""

    def __init__(self, target_port: int, delay_s: float) -> None:
        self.target_port = target_port
        self.delay_s = delay_s
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._stop = threading.Event()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> DelayProxy:
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop.set()
        self._listener.close()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            request_pending = threading.Event()
            threading.Thread(target=self._pipe, args=(client, upstream, request_pending, False), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, request_pending, True), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket, request_pending: threading.Event,
              responses: bool) -> None:
        try:
            while data := source.recv(65536):
                if not responses:
                    request_pending.set()
                elif request_pending.is_set():
                    request_pending.clear()
                    time.sleep(self.delay_s)
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()
