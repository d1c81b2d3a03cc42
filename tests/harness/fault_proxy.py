"""An HTTP proxy in front of the S3 server that stands for what goes wrong between a runner
and its storage: a faulty network or middlebox that flips a byte of each upload (which the
runner's read-back must catch), or a busy or broken S3 that answers errors for a while.
"""

from __future__ import annotations

import contextlib
import socket
import threading

from .cluster import free_port


def shut(*sockets: socket.socket) -> None:
    for sock in sockets:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


S3_ERRORS = {500: ("InternalError", "We encountered an internal error. Please try again."),
             503: ("SlowDown", "Please reduce your request rate.")}


class TcpProxy:
    """Accepts on a loopback port and hands each connection, with its own connection to the
    target, to serve()."""

    def __init__(self, target_port: int):
        self.target_port = target_port
        self.port = free_port()
        self.server = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            self.serve(client, socket.create_connection(("127.0.0.1", self.target_port)))

    def serve(self, client: socket.socket, upstream: socket.socket) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self.server.close()


class S3FaultProxy(TcpProxy):
    """corrupt: flip byte 10 of every PUT body (but skip_suffix's). errors(status, count):
    answer that many requests (count < 0: every one) with an S3 error instead of forwarding."""

    def __init__(self, target_port: int, *, corrupt: bool = False, skip_suffix: str = "manifest.json"):
        self.corrupt, self.skip_suffix = corrupt, skip_suffix
        self.corrupted = self.answered = 0
        self.error_status, self.errors_left = 0, 0
        self._guard = threading.Lock()
        super().__init__(target_port)

    def errors(self, status: int, count: int) -> None:
        with self._guard:
            self.error_status, self.errors_left = status, count

    def _take_error(self) -> int:
        with self._guard:
            if not self.errors_left:
                return 0
            self.errors_left -= 1 if self.errors_left > 0 else 0
            self.answered += 1
            return self.error_status

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def serve(self, client: socket.socket, upstream: socket.socket) -> None:
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
            shut(source, target)

    def _requests(self, client: socket.socket, upstream: socket.socket) -> None:
        """Forward requests, or answer them with an error; flip byte 10 of PUT bodies when corrupting."""
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
                status = self._take_error()
                if status:  # answered here, unread body and all: the connection closes after it
                    code, message = S3_ERRORS[status]
                    xml = (f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code><Message>{message}'
                           f"</Message><Resource>{path.decode()}</Resource></Error>").encode()
                    client.sendall(f"HTTP/1.1 {status} {code}\r\nContent-Type: application/xml\r\nContent-Length: "
                                   f"{len(xml)}\r\nConnection: close\r\n\r\n".encode() + xml)
                    shut(client, upstream)
                    return
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
                if self.corrupt and method == b"PUT" and length > 10 and \
                        not path.split(b"?")[0].endswith(self.skip_suffix.encode()):
                    body[10] ^= 0xFF
                    self.corrupted += 1
                upstream.sendall(bytes(body))
        except OSError:
            return



class StallProxy(TcpProxy):
    """A TCP proxy (for the director's SSH, say) whose open connections can be made to stall:
    after stall(), they stop forwarding without closing, as behind a dead NAT entry or a
    hung middlebox; connections made afterwards work."""

    def __init__(self, target_port: int):
        self.stalled: set[int] = set()
        self.connections: list[tuple[socket.socket, socket.socket]] = []
        self._guard = threading.Lock()
        super().__init__(target_port)

    def stall(self) -> int:
        """Stalls every open connection; returns how many."""
        with self._guard:
            for client, _ in self.connections:
                self.stalled.add(id(client))
            return len(self.connections)

    def serve(self, client: socket.socket, upstream: socket.socket) -> None:
        with self._guard:
            self.connections.append((client, upstream))
        for source, target in ((client, upstream), (upstream, client)):
            threading.Thread(target=self._pipe, args=(client, source, target), daemon=True).start()

    def _pipe(self, client: socket.socket, source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                while id(client) in self.stalled:   # hold the bytes; never close
                    threading.Event().wait(1)
                target.sendall(data)
        except OSError:
            pass
        finally:
            if id(client) not in self.stalled:
                shut(source, target)

