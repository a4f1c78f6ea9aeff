"""Handshake latency and bulk throughput of the live endpoint, beside the kernel's own TCP on
the same veth pair (root).

    python bench/endpoint_bench.py [--handshakes N] [--size BYTES]

One namespace pair, one veth. Side b runs two servers as their own processes: our
endpoint (``tcpinc endpoint listen --discard`` on 10.201.0.2, an address the kernel does
not own) and a kernel discard server (on 10.201.0.12, which the kernel owns). Side a's
clients run in this process: our Host on 10.201.0.1, kernel sockets from 10.201.0.11
(made inside the namespace). Figures:

    handshake  connect() until it returns: the kernel's three-way handshake, against ours
               to Connected (the same three segments, with ENO) and to keys ready (ENO,
               then Init1 / Init2: one more round trip, and the key agreement)
               (fresh: resumption off; resumed: no Init messages, RFC 8548 §3.5)
    bulk       SIZE bytes sent, then FIN, until the peer's FIN: the kernel, our stack
               encrypting (tcpcrypt, X25519 + AES-128-GCM), and our stack plain (--no-eno);
               the best of three runs each

Ratios are ours / kernel for times and kernel / ours for rates: both read "N times slower".
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace

from tcpinc_tools.endpoint import EndpointSettings, Host, parse_aeads, parse_teps
from tcpinc_tools.endpoint.lab import Proc
from tcpinc_tools.endpoint.linux import in_netns, netns_command, run
from tcpinc_tools.endpoint.netns import NetnsPair
from tcpinc_tools.endpoint.services import pattern

KERNEL_A = "10.201.0.11"
KERNEL_B = "10.201.0.12"
OUR_PORT, PLAIN_PORT, KERNEL_PORT = 9, 10, 9
RUNS = 3  # bulk figures: the best of these


@contextmanager
def servers(pair: NetnsPair) -> Iterator[None]:
    """Our listeners (encrypting and plain) and the kernel's, all discarding, in side b."""
    run(["ip", "-n", pair.a, "addr", "add", f"{KERNEL_A}/24", "dev", pair.veth_a])
    run(["ip", "-n", pair.b, "addr", "add", f"{KERNEL_B}/24", "dev", pair.veth_b])
    tcpinc = [sys.executable, "-m", "tcpinc_tools.cli", "endpoint", "listen", "--discard"]
    where = ["--iface", pair.veth_b, "--addr", pair.addr_b]
    kernel = [sys.executable, "-m", "tcpinc_tools.endpoint.kernel_peer", "serve", "--discard"]
    procs = [
        Proc("ours", netns_command(pair.b, [*tcpinc, "--port", str(OUR_PORT), *where])),
        Proc(
            "ours-plain",
            netns_command(pair.b, [*tcpinc, "--port", str(PLAIN_PORT), "--no-eno", *where]),
        ),
        Proc("kernel", netns_command(pair.b, [*kernel, "--addr", KERNEL_B, "--port", "9"])),
    ]
    try:
        for proc in procs:
            proc.wait_line("listening on")
        yield
    finally:
        for proc in procs:
            proc.stop()


def kernel_socket(pair: NetnsPair) -> socket.socket:
    def make() -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind((KERNEL_A, 0))
        return sock

    return in_netns(pair.a, make)


def kernel_handshakes(pair: NetnsPair, count: int) -> list[float]:
    times = []
    for _ in range(count):
        with kernel_socket(pair) as sock:
            start = time.perf_counter()
            sock.connect((KERNEL_B, KERNEL_PORT))
            times.append(time.perf_counter() - start)
    return times


def our_handshakes(
    host: Host, pair: NetnsPair, count: int, *, resumed: bool
) -> tuple[list[float], list[float]]:
    connected, ready = [], []
    for i in range(count + 1):
        sock = host.connect((pair.addr_b, OUR_PORT))
        assert sock.encrypted and sock.connected_at is not None and sock.ready_at is not None
        assert sock.resumed == (resumed and i > 0)
        if i > 0:  # the first one warms up (and gives the resumption secret)
            connected.append(sock.connected_at - sock.started)
            ready.append(sock.ready_at - sock.started)
        sock.close()
        host.run_until(lambda: sock.finished, 10)  # noqa: B023
    return connected, ready


def kernel_bulk(pair: NetnsPair, data: bytes) -> float:
    with kernel_socket(pair) as sock:
        sock.connect((KERNEL_B, KERNEL_PORT))
        start = time.perf_counter()
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        while sock.recv(65536):
            pass
        return time.perf_counter() - start


def our_bulk(host: Host, pair: NetnsPair, data: bytes, port: int) -> float:
    sock = host.connect((pair.addr_b, port))
    start = time.perf_counter()
    sock.send(data)
    sock.close()
    host.run_until(lambda: sock.eof or sock.finished, 600)
    seconds = time.perf_counter() - start
    assert sock.abort_reason is None, sock.abort_reason
    host.run_until(lambda: sock.finished, 10)
    return seconds


def _ms(values: Sequence[float]) -> float:
    return statistics.median(values) * 1000


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--handshakes", type=int, default=50)
    parser.add_argument("--size", type=int, default=8 << 20, help="bulk bytes (8 MiB)")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("endpoint_bench: needs root (network namespaces)", file=sys.stderr)
        return 2
    data = pattern(args.size)
    settings = EndpointSettings(teps=parse_teps("x25519"), aeads=parse_aeads("aes128gcm"))
    fresh = replace(settings, resume=False).config()
    plain = EndpointSettings(eno=False).config()
    with NetnsPair() as pair, servers(pair):
        kernel_hs = kernel_handshakes(pair, args.handshakes)
        kernel_s = min(kernel_bulk(pair, data) for _ in range(RUNS))
        with Host.open(pair.veth_a, pair.addr_a, netns=pair.a, config=fresh) as host:
            connected, ready = our_handshakes(host, pair, args.handshakes, resumed=False)
            ours_s = min(our_bulk(host, pair, data, OUR_PORT) for _ in range(RUNS))
        with Host.open(pair.veth_a, pair.addr_a, netns=pair.a, config=settings.config()) as host:
            _, resumed = our_handshakes(host, pair, args.handshakes, resumed=True)
        with Host.open(pair.veth_a, pair.addr_a, netns=pair.a, config=plain) as host:
            plain_s = min(our_bulk(host, pair, data, PLAIN_PORT) for _ in range(RUNS))
    k = _ms(kernel_hs)
    rows: list[tuple[str, str, str]] = [
        ("handshake, kernel connect()", f"{k:.3f} ms", "1"),
        ("handshake, ours to Connected", f"{_ms(connected):.3f} ms", f"{_ms(connected) / k:.0f}"),
        ("handshake, ours to keys (fresh)", f"{_ms(ready):.3f} ms", f"{_ms(ready) / k:.0f}"),
        ("handshake, ours to keys (resumed)", f"{_ms(resumed):.3f} ms", f"{_ms(resumed) / k:.0f}"),
    ]
    mb = args.size / 1e6
    rate: Callable[[float], str] = lambda s: f"{mb / s:.1f} MB/s"  # noqa: E731
    rows += [
        (f"bulk {mb:.1f} MB, kernel", rate(kernel_s), "1"),
        ("bulk, ours encrypted", rate(ours_s), f"{ours_s / kernel_s:.0f}"),
        ("bulk, ours plain (--no-eno)", rate(plain_s), f"{plain_s / kernel_s:.0f}"),
    ]
    print(f"endpoint bench: {args.handshakes} handshakes (median), {args.size} bytes bulk")
    print(f"{'':<36}{'figure':>12}  {'x kernel (slower)':>18}")
    for name, figure, ratio in rows:
        print(f"{name:<36}{figure:>12}  {ratio:>18}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
