"""Python's asyncore echo server: the peer that ioloop's users port from.

Started by benches/echo/ (peer `python-asyncore`): binds 127.0.0.1 on a free port, prints
`listening on 127.0.0.1:PORT`, and serves until it is killed. Written as an asyncore user
would, with the same rules as the bench's Rust peers: TCP_NODELAY on accepted sockets,
reads of at most 16 KiB, unsent bytes kept and sent as the socket takes them, and no
reading while more than 64 KiB wait to be sent (bounded memory).

asyncore is in the standard library up to Python 3.11 (removed in 3.12).
"""

import socket
import sys
import warnings

warnings.filterwarnings("ignore", category=DeprecationWarning)
import asyncore  # noqa: E402  (after the filter: importing it warns)

READ_SIZE = 16 * 1024
HIGH_WATER = 64 * 1024


class Echo(asyncore.dispatcher):
    def __init__(self, sock):
        super().__init__(sock)
        self.unsent = bytearray()

    def readable(self):
        return len(self.unsent) <= HIGH_WATER

    def writable(self):
        return bool(self.unsent)

    def handle_read(self):
        data = self.recv(READ_SIZE)
        if data:
            self.unsent += data
            self.handle_write()  # send at once, as the Rust peers do

    def handle_write(self):
        if self.unsent:
            sent = self.send(self.unsent)
            del self.unsent[:sent]

    def handle_close(self):
        self.close()


class Server(asyncore.dispatcher):
    def __init__(self):
        super().__init__()
        self.create_socket(socket.AF_INET, socket.SOCK_STREAM)
        self.set_reuse_addr()
        self.bind(("127.0.0.1", 0))
        self.listen(1024)

    def handle_accepted(self, sock, addr):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        Echo(sock)


def main():
    server = Server()
    host, port = server.socket.getsockname()
    print(f"listening on {host}:{port}", flush=True)
    # poll, not select: select stops at descriptor 1024.
    asyncore.loop(timeout=1, use_poll=True)


if __name__ == "__main__":
    sys.exit(main())
