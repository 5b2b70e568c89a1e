"""Python's asynchat line echo: the code that ioloop's AsyncChat ports.

Started by benches/line_echo/ (peer `python-asynchat`) with python3.11: binds 127.0.0.1 on
a free port, prints `listening on 127.0.0.1:PORT`, and serves until it is killed. Written
as an asynchat user would: `found_terminator` pushes the line and its `\\n` back.
TCP_NODELAY on accepted sockets, as every peer of the bench sets it; asynchat's default
buffer sizes (ac_in_buffer_size = ac_out_buffer_size = 64 KiB).

asynchat is in the standard library up to Python 3.11 (removed in 3.12).
"""

import socket
import sys
import warnings

warnings.filterwarnings("ignore", category=DeprecationWarning)
import asynchat  # noqa: E402  (after the filter: importing it warns)
import asyncore  # noqa: E402


class LineEcho(asynchat.async_chat):
    def __init__(self, sock):
        super().__init__(sock)
        self.set_terminator(b"\n")
        self.incoming = []

    def collect_incoming_data(self, data):
        self.incoming.append(data)

    def found_terminator(self):
        line = b"".join(self.incoming)
        self.incoming = []
        self.push(line)
        self.push(b"\n")


class Server(asyncore.dispatcher):
    def __init__(self):
        super().__init__()
        self.create_socket(socket.AF_INET, socket.SOCK_STREAM)
        self.set_reuse_addr()
        self.bind(("127.0.0.1", 0))
        self.listen(1024)

    def handle_accepted(self, sock, addr):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        LineEcho(sock)


def main():
    server = Server()
    host, port = server.socket.getsockname()
    print(f"listening on {host}:{port}", flush=True)
    # poll, not select: select stops at descriptor 1024.
    asyncore.loop(timeout=1, use_poll=True)


if __name__ == "__main__":
    sys.exit(main())
