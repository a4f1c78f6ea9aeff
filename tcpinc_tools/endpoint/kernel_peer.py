"""A plain Linux TCP peer for the lab and the benchmark: the kernel's own stack, no ENO.

    python -m tcpinc_tools.endpoint.kernel_peer serve --addr IP --port P [--count N] [--discard]
    python -m tcpinc_tools.endpoint.kernel_peer connect IP:PORT (--send TEXT | --size N)
           [--verify-echo]

``serve`` is an echo (or discard) server; it prints ``listening`` on stderr once it is,
and a line per connection. ``connect`` sends, half-closes, reads to the end and checks the
echo. Meant to run inside a namespace (``ip netns exec NS python -m ...``).
"""

from __future__ import annotations

import argparse
import socket
import sys
from collections.abc import Sequence

from .services import pattern

__all__ = ["main"]


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _serve(addr: str, port: int, count: int | None, discard: bool) -> int:
    with socket.create_server((addr, port), backlog=128, reuse_port=False) as server:
        _say(f"listening on {addr}:{port} (kernel TCP)")
        served = 0
        while count is None or served < count:
            conn, peer = server.accept()
            total = 0
            with conn:
                while chunk := conn.recv(65536):
                    total += len(chunk)
                    if not discard:
                        conn.sendall(chunk)
                conn.shutdown(socket.SHUT_WR)
            served += 1
            _say(f"peer={peer[0]}:{peer[1]} outcome=kernel received={total}")
    return 0


def _connect(target: str, payload: bytes, verify: bool) -> int:
    host, _, port = target.rpartition(":")
    received = bytearray()
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(payload)
        sock.shutdown(socket.SHUT_WR)
        while chunk := sock.recv(65536):
            received += chunk
    if verify:
        ok = bytes(received) == payload
        _say(f"echo {'verified' if ok else 'MISMATCH'}: {len(received)} of {len(payload)} bytes")
        return 0 if ok else 1
    sys.stdout.buffer.write(received)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="kernel_peer", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve")
    serve.add_argument("--addr", required=True)
    serve.add_argument("--port", type=int, required=True)
    serve.add_argument("--count", type=int)
    serve.add_argument("--discard", action="store_true")
    connect = sub.add_parser("connect")
    connect.add_argument("target")
    connect.add_argument("--send")
    connect.add_argument("--size", type=int)
    connect.add_argument("--verify-echo", action="store_true")
    args = parser.parse_args(argv)
    try:
        if args.command == "serve":
            return _serve(args.addr, args.port, args.count, args.discard)
        payload = args.send.encode() if args.send is not None else pattern(args.size or 0)
        return _connect(args.target, payload, args.verify_echo)
    except KeyboardInterrupt:
        return 130
    except OSError as exc:
        _say(f"kernel_peer: error: {exc}")
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
