"""S3 on this machine for the tests: moto's server, and a TCP relay in front of it that fails as S3 does."""

from __future__ import annotations

import contextlib
import socket
import threading
import urllib.request
from collections.abc import Iterator

from moto.server import ThreadedMotoServer


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class OutageRelay:
    """A TCP relay to ``port`` that goes down, as S3 does in an outage, at the ``nth`` request containing ``marker``.

    Going down means: that request is never relayed, every open connection is closed, and the
    listening port is closed, so every later connection is refused. With ``hold``, the request is
    held instead: never relayed, never answered, its connection left open, so the client waits
    mid-request (where a test can kill it).
    """

    def __init__(self, port: int, marker: bytes, nth: int = 1, *, hold: bool = False):
        self.target, self.marker, self.remaining, self.hold = port, marker, nth, hold
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.down = threading.Event()
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.down.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.down.is_set():  # accepted as the relay went down: refuse it like the closed port would
                client.close()
                return
            upstream = socket.create_connection(("127.0.0.1", self.target))
            with self._lock:
                self._open += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, requests: bool) -> None:
        try:
            while data := source.recv(65536):
                if requests and self.marker in data:
                    with self._lock:
                        self.remaining -= 1
                        if self.remaining == 0 and self.hold:
                            self.down.set()
                            self._held = (source, sink)  # kept open, unanswered, until the client goes
                            return
                        if self.remaining == 0:
                            self.go_down()
                            return
                sink.sendall(data)
        except OSError:
            pass
        finally:
            if getattr(self, "_held", None) != (source, sink):
                for sock in (source, sink):
                    sock.close()

    def go_down(self) -> None:
        self.down.set()
        # close() alone leaves a blocked accept() listening on Linux; shutdown() wakes it and stops listening.
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()
        for sock in self._open:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()


@contextlib.contextmanager
def running_moto_server() -> Iterator[int]:
    """moto's server on a free loopback port, with no buckets when it starts and when it ends; yields the port."""
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    # moto keeps its buckets process-wide, across servers and tests: start and leave with none.
    reset = urllib.request.Request(f"http://127.0.0.1:{port}/moto-api/reset", method="POST")
    urllib.request.urlopen(reset)
    try:
        yield port
    finally:
        urllib.request.urlopen(reset)
        server.stop()
