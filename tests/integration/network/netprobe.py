"""A tiny TCP/UDP server and client, run inside test network namespaces.

    netprobe.py serve ADDR PORT   answer "tcp PEER_IP" / "udp PEER_IP" to each
                                  connection or datagram; prints "ready" once bound
    netprobe.py probe tcp|udp HOST PORT TIMEOUT
                                  prints the answer, or "FAIL <reason>"

The answer names the peer address the server saw, so a test can tell whether
a connection was masqueraded.
"""

from __future__ import annotations

import socket
import sys
import threading


def serve(addr: str, port: int) -> None:
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    tcp.bind((addr, port))
    tcp.listen(16)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind((addr, port))

    def udp_loop() -> None:
        while True:
            _data, peer = udp.recvfrom(2048)
            udp.sendto(f"udp {peer[0]}".encode(), peer)

    threading.Thread(target=udp_loop, daemon=True).start()
    print("ready", flush=True)
    while True:
        conn, peer = tcp.accept()
        with conn:
            conn.sendall(f"tcp {peer[0]}".encode())


def probe(proto: str, host: str, port: int, timeout: float) -> str:
    kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect((host, port))
            if proto == "udp":
                sock.send(b"hello")
            return sock.recv(2048).decode()
        except OSError as exc:
            return f"FAIL {exc}"


def main() -> None:
    if sys.argv[1] == "serve":
        serve(sys.argv[2], int(sys.argv[3]))
    else:
        print(probe(sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5])))


if __name__ == "__main__":
    main()
