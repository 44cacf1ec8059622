#!/usr/bin/python3
"""ws-client.py PORT HOST PATH: a WebSocket upgrade by hand through nginx.
Prints the status line, then what came back for a raw "ping"."""
import socket
import sys

port, host, path = int(sys.argv[1]), sys.argv[2], sys.argv[3]
s = socket.create_connection(("127.0.0.1", port), timeout=5)
s.sendall((f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
head = b""
while b"\r\n\r\n" not in head and len(head) < 65536:
    chunk = s.recv(4096)
    if not chunk:
        break
    head += chunk
print(head.split(b"\r\n", 1)[0].decode(errors="replace"))
rest = head.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in head else b""
s.sendall(b"ping")
try:
    while len(rest) < 4:
        chunk = s.recv(4096)
        if not chunk:
            break
        rest += chunk
except OSError:
    pass
print(rest.decode(errors="replace"))
