"""Slowloris against the HTTP example (Linux: reads /proc): N connections trickle a request
head one byte a second; prints when they were dropped (after their first byte), the server's
descriptors before, at most and after, and the latency of a normal client served meanwhile.

    cargo build --example http_server
    python3 benches/slowloris.py target/debug/examples/http_server 2000 \
        --request-timeout 2 --max-connections 5000

The test suite checks the same on every backend with 200 connections
(tests/example_limits.rs); this measures it at a larger scale.
"""
import os, socket, subprocess, sys, time
binary, n, args = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
p = subprocess.Popen([binary, "--addr", "127.0.0.1:0", *args], stdout=subprocess.PIPE, text=True)
host, port = p.stdout.readline().split()[-1].rsplit(":", 1); port = int(port)
fds = lambda: len(os.listdir(f"/proc/{p.pid}/fd"))
base = fds()
payload = b"GET / HTTP/1.1\r\nHost: localhost\r\nUser-Agent: slowloris\r\nX-a: b\r\n\r\n"
socks = []
for _ in range(n):
    s = socket.create_connection((host, port)); s.setblocking(False); socks.append([s, 0, None])
start = time.time(); peak = base; lat = []
while any(c[2] is None for c in socks) and time.time() - start < 30:
    for c in socks:
        if c[2] is None:
            try: c[0].send(payload[c[1]:c[1]+1]); c[1] += 1
            except OSError: pass
    t0 = time.time(); g = socket.create_connection((host, port))
    g.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"); resp = b""
    while True:
        d = g.recv(4096)
        if not d: break
        resp += d
    g.close(); lat.append(time.time() - t0); assert resp.startswith(b"HTTP/1.1 200")
    peak = max(peak, fds())
    deadline = time.time() + 1.0
    while time.time() < deadline:
        for c in socks:
            if c[2] is None:
                try:
                    if c[0].recv(1024) == b"": c[2] = time.time() - start
                except BlockingIOError: pass
                except OSError: c[2] = time.time() - start
        time.sleep(0.02)
closed = sorted(c[2] for c in socks if c[2] is not None)
for c in socks: c[0].close()
time.sleep(0.5)
print(f"{n} slow clients: dropped {len(closed)}, first after {closed[0]:.2f} s, last after {closed[-1]:.2f} s (bytes sent each: {max(c[1] for c in socks)} of {len(payload)})")
print(f"server descriptors: {base} before, {peak} at most, {fds()} after")
lat.sort(); print(f"a normal client meanwhile: {len(lat)} requests, median {lat[len(lat)//2]*1000:.1f} ms, max {lat[-1]*1000:.1f} ms")
p.terminate(); print("exit", p.wait())
