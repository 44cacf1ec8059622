#!/usr/bin/python3
"""tests/fakes/closing-server.py PORTFILE COUNTFILE: a server that is down
in the way a CA behind a broken load balancer is: it accepts each TCP
connection on 127.0.0.1 and closes it at once. Writes the port it got to
PORTFILE, then the number of connections taken so far to COUNTFILE after
each (both replaced atomically, so a reader never sees half a number)."""
import os
import socket
import sys


def put(path, n):
    with open(path + ".tmp", "w") as f:
        f.write("%d\n" % n)
    os.rename(path + ".tmp", path)


def main():
    portfile, countfile = sys.argv[1:3]
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(64)
    put(portfile, s.getsockname()[1])
    n = 0
    while True:
        c, _ = s.accept()
        c.close()
        n += 1
        put(countfile, n)


if __name__ == "__main__":
    main()
