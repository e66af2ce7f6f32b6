#!/usr/bin/env python3
"""The wa-web sidecar's socket as the slice sees it (docs/wa-web.md): waits for the socket, says
hello, and waits for the first failed connection's backoff. Prints the hello result and that state
as one JSON line; exits 1 when either does not come before the deadline.
Usage: wa_web_probe.py SOCKET DEADLINE_SECONDS"""
import json
import os
import socket
import sys
import time

path, deadline = sys.argv[1], time.monotonic() + float(sys.argv[2])


def fail(why):
    print(f"wa_web_probe: {why}", file=sys.stderr)
    sys.exit(1)


while not os.path.exists(path):
    if time.monotonic() > deadline:
        fail(f"no socket at {path}")
    time.sleep(0.1)
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
# By a relative name: a path into buildah's storage is longer than a socket address may be.
os.chdir(os.path.dirname(path))
s.connect(os.path.basename(path))
s.sendall(b'{"id": 1, "op": "hello", "version": 1}\n')
hello, backoff, buf = None, None, b""
while hello is None or backoff is None:
    left = deadline - time.monotonic()
    if left <= 0:
        fail(f"hello {hello}, backoff {backoff}")
    s.settimeout(left)
    try:
        chunk = s.recv(65536)
    except socket.timeout:
        continue
    if not chunk:
        fail("the sidecar closed the connection")
    buf += chunk
    while b"\n" in buf:
        line, buf = buf.split(b"\n", 1)
        msg = json.loads(line)
        if msg.get("id") == 1:
            hello = msg
        elif msg.get("event") == "state" and "reconnecting in" in (msg.get("detail") or ""):
            backoff = msg
print(json.dumps({"hello": hello, "backoff": backoff}))
