"""A TCP proxy that corrupts HTTP upload bodies in flight: one byte of each PUT body flips.

Placed between a client and an S3 server, it stands for a faulty network or middlebox
that the client's own read-back verification must catch.
"""

from __future__ import annotations

import contextlib
import socket
import threading

from .cluster import free_port


class CorruptingProxy:
    def __init__(self, target_port: int, skip_suffix: str = "manifest.json"):
        self.target_port = target_port
        self.skip_suffix = skip_suffix
        self.port = free_port()
        self.corrupted = 0
        self.server = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            threading.Thread(target=self._requests, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, target):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def _requests(self, client: socket.socket, upstream: socket.socket) -> None:
        """Forward requests, flipping byte 10 of every PUT body (except skipped paths)."""
        buffer = b""
        try:
            while True:
                while b"\r\n\r\n" not in buffer:
                    data = client.recv(65536)
                    if not data:
                        return
                    buffer += data
                head, buffer = buffer.split(b"\r\n\r\n", 1)
                lines = head.split(b"\r\n")
                method, path = lines[0].split(b" ")[:2]
                length = 0
                for line in lines[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value.strip())
                upstream.sendall(head + b"\r\n\r\n")
                body = bytearray()
                while len(body) < length:
                    if not buffer:
                        buffer = client.recv(65536)
                        if not buffer:
                            return
                    take = min(length - len(body), len(buffer))
                    body += buffer[:take]
                    buffer = buffer[take:]
                if method == b"PUT" and length > 10 and not path.split(b"?")[0].endswith(self.skip_suffix.encode()):
                    body[10] ^= 0xFF
                    self.corrupted += 1
                upstream.sendall(bytes(body))
        except OSError:
            return

    def close(self) -> None:
        self.server.close()
