"""``tcpinc endpoint``: the raw-socket TCP-ENO / tcpcrypt endpoint (root).

    tcpinc endpoint listen --iface IF --addr IP --port P [--pipe | --discard] [--count N] ...
    tcpinc endpoint connect IP:PORT --iface IF --addr IP [--send TEXT | --size N] ...

Listen runs an echo service (or pipes the first connection to stdin/stdout, or discards);
connect sends stdin (or ``--send TEXT`` / ``--size N`` bytes of a pattern), half-closes, and
writes what comes back to stdout. Each connection prints one report line on stderr (peer,
outcome, reason, TEP, AEAD, session ID, ...). Exit status: 0 when every connection ended
cleanly, 1 when one aborted or failed, 2 for errors (one line on stderr), 128 + the signal
number on SIGINT / SIGTERM / SIGHUP, after removing the nftables table.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from typing import Final

from ..endpoint import services
from ..endpoint.config import EndpointSettings, parse_aeads, parse_teps
from ..endpoint.conn import SEND_BUFFER_MAX, TcpincSocket
from ..endpoint.errors import ConnectionFailed, EndpointError
from ..endpoint.host import DEFAULT_ENDPOINT_TCP, Host
from ..endpoint.impair import parse_impairment
from ..endpoint.report import report_line
from ..endpoint.signals import terminate_on_signals
from ..errors import TcpincError
from ..keylog import KeyLogWriter
from ..protocol.events import DataReceived, Event
from . import COMMANDS
from .gen import parse_size

__all__ = ["HELP", "configure", "run"]

HELP: Final = COMMANDS["endpoint"]
# SIGINT's conventional exit status.
INTERRUPTED: Final = 130
# How often a paused stdin is looked at again (s), once the peer has caught up.
_STDIN_POLL: Final = 0.01


def _type(parse: Callable[[str], object]) -> Callable[[str], object]:
    def convert(text: str) -> object:
        try:
            return parse(text)
        except EndpointError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return convert


def _common(parser: argparse.ArgumentParser) -> None:
    where = parser.add_argument_group("where")
    where.add_argument("--iface", required=True, metavar="IF", help="the interface")
    where.add_argument(
        "--addr",
        required=True,
        metavar="IP",
        help="our IPv4 address on IF (best NOT configured on IF: the endpoint answers ARP)",
    )
    where.add_argument("--netns", metavar="NS", help="open the interface in this namespace")
    eno = parser.add_argument_group("TCP-ENO and tcpcrypt")
    eno.add_argument(
        "--tep",
        type=_type(parse_teps),
        metavar="LIST",
        help="TEPs offered, increasing preference (B answers with the last one A offered): "
        "p256,p521,x448,x25519 (default)",
    )
    eno.add_argument(
        "--aead",
        type=_type(parse_aeads),
        metavar="LIST",
        help="AEADs offered in Init1 (A), and B's choice order unless --aead-order: "
        "aes128gcm,aes256gcm,chacha20poly1305",
    )
    eno.add_argument(
        "--aead-order",
        type=_type(parse_aeads),
        metavar="LIST",
        help="B's AEAD preference among A's, increasing (TCP_CRYPT_BCONF)",
    )
    eno.add_argument("--dialect", choices=("rfc", "legacy"), default="rfc")
    eno.add_argument(
        "--require-encryption",
        action="store_true",
        help="mandatory encryption: abort instead of falling back to plain TCP",
    )
    eno.add_argument(
        "--require-aware",
        action="store_true",
        help="mandatory application-aware mode: fall back unless the peer sets a=1",
    )
    eno.add_argument("--aware", action="store_true", help="set the application-aware bit a=1")
    eno.add_argument(
        "--role-b",
        action="store_true",
        help="set b=1 on an active open (the role override for a simultaneous open)",
    )
    eno.add_argument("--no-resume", action="store_true", help="no session resumption")
    eno.add_argument("--no-eno", action="store_true", help="plain TCP: no ENO option at all")
    eno.add_argument("--rekey-interval", type=float, metavar="S", help="rekey every S seconds")
    eno.add_argument(
        "--rekey-bytes", type=parse_size, metavar="N", help="rekey every N application bytes sent"
    )
    eno.add_argument(
        "--keylog",
        metavar="FILE",
        help="append session secrets here (mode 0600; default: $TCPCRYPT_KEYLOG_FILE)",
    )
    misc = parser.add_argument_group("other")
    misc.add_argument(
        "--impair",
        type=_type(parse_impairment),
        metavar="SPEC",
        help="impair our output: loss=10%%,duplicate=5%%,reorder=25%%[,delay=S][,seed=N]",
    )
    misc.add_argument(
        "--timeout", type=float, default=10.0, metavar="S", help="handshake timeout (10 s)"
    )


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "A TCP-ENO / tcpcrypt host on a raw packet socket: it answers ARP for --addr, "
        "speaks TCP for it, and drops the kernel's RSTs for it with an nftables table of "
        "its own while it runs. Needs root."
    )
    sub = parser.add_subparsers(
        dest="endpoint_command", metavar="ACTION", required=True, parser_class=type(parser)
    )
    listen = sub.add_parser("listen", help="accept connections (echo service by default)")
    listen.add_argument("--port", type=int, required=True, metavar="P")
    mode = listen.add_mutually_exclusive_group()
    mode.add_argument(
        "--pipe", action="store_true", help="one connection, piped to stdin and stdout"
    )
    mode.add_argument("--discard", action="store_true", help="take data, send nothing")
    listen.add_argument("--count", type=int, metavar="N", help="exit after N connections")
    _common(listen)
    connect = sub.add_parser("connect", help="open connections, send, print what comes back")
    connect.add_argument("target", metavar="IP:PORT")
    data = connect.add_mutually_exclusive_group()
    data.add_argument("--send", metavar="TEXT", help="send TEXT (UTF-8) instead of stdin")
    data.add_argument("--size", type=parse_size, metavar="N", help="send N pattern bytes")
    connect.add_argument(
        "--verify-echo",
        action="store_true",
        help="expect our data back (an echo service) instead of printing it",
    )
    connect.add_argument(
        "--count", type=int, default=1, metavar="N", help="connections, one by one"
    )
    connect.add_argument("--local-port", type=int, metavar="P", help="our port (default random)")
    connect.add_argument(
        "--wait-go",
        action="store_true",
        help="open the interface, print 'ready' on stderr, connect after a line on stdin",
    )
    _common(connect)


def _settings(args: argparse.Namespace) -> EndpointSettings:
    return EndpointSettings(
        teps=args.tep,
        aeads=args.aead,
        aead_order=args.aead_order,
        dialect=args.dialect,
        eno=not args.no_eno,
        require_encryption=args.require_encryption,
        require_aware=args.require_aware,
        aware=args.aware,
        role_b=args.role_b,
        resume=not args.no_resume,
        tcp=DEFAULT_ENDPOINT_TCP,
    )


def _keylog(args: argparse.Namespace) -> KeyLogWriter | None:
    if args.keylog:
        return KeyLogWriter(args.keylog)
    return KeyLogWriter.from_env()


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _open_host(args: argparse.Namespace) -> Host:
    return Host.open(
        args.iface,
        args.addr,
        netns=args.netns,
        impairment=args.impair,
        config=_settings(args).config(),
        rekey_interval=args.rekey_interval,
        rekey_bytes=args.rekey_bytes,
        on_report=lambda sock: _say(report_line(sock)),
    )


def run(args: argparse.Namespace) -> int:
    command = _listen if args.endpoint_command == "listen" else _connect
    with terminate_on_signals():
        try:
            return command(args)
        except KeyboardInterrupt:
            return INTERRUPTED
        except ConnectionFailed:
            return 1  # the connection's report line said why
        except (TcpincError, OSError) as exc:
            _say(f"tcpinc endpoint: error: {exc}")
            return 2


# -- listen ---------------------------------------------------------------------------------


def _listen(args: argparse.Namespace) -> int:
    if args.count is not None and args.count < 1:
        raise EndpointError("--count must be at least 1")
    host = _open_host(args)
    keylog = None
    try:
        host.keylog = keylog = _keylog(args)  # created once the interface is open
        handler = services.discard if args.discard else None if args.pipe else services.echo
        listener = host.listen(args.port, handler=handler)
        _say(f"listening on {args.addr}:{args.port} ({host.describe()})")
        if args.pipe:
            sock = listener.accept()
            listener.close()
            _pipe(host, sock)
        else:
            count = args.count
            host.run_until(lambda: count is not None and host.stats.reported >= count)
        host.close(linger=host.config.tcp.time_wait)
    finally:
        host.close()
        if keylog is not None:
            keylog.close()
    return 0


def _pipe(host: Host, sock: TcpincSocket) -> None:
    """stdin -> the connection -> stdout, until both directions are done."""
    out = sys.stdout.buffer

    def on_event(sock: TcpincSocket, event: Event) -> None:
        if isinstance(event, DataReceived):
            out.write(event.data)
            out.flush()

    out.write(sock.take_received())
    out.flush()
    sock.handler = on_event
    _stream_stdin(host, sock)
    host.run_until(lambda: sock.finished)


def _stream_stdin(host: Host, sock: TcpincSocket) -> None:
    """Feed stdin to ``sock`` from the loop; close it at end of file. Reading pauses while
    more than SEND_BUFFER_MAX bytes are unacknowledged."""
    fd = sys.stdin.fileno()

    def readable() -> None:
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            return
        if sock.finished:
            host.remove_reader(fd)
            return
        if not chunk:
            host.remove_reader(fd)
            sock.close()
            return
        sock.write(chunk)
        if sock.unacknowledged > SEND_BUFFER_MAX:
            host.remove_reader(fd)
            host.call_later(_STDIN_POLL, resume)

    def resume() -> None:
        if sock.finished:
            return
        if sock.unacknowledged > SEND_BUFFER_MAX // 2:
            host.call_later(_STDIN_POLL, resume)
        else:
            host.add_reader(fd, readable)

    host.add_reader(fd, readable)


# -- connect --------------------------------------------------------------------------------


def _target(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) <= 0xFFFF:
        raise EndpointError(f"target {text!r} is not IP:PORT")
    return host, int(port)


def _connect(args: argparse.Namespace) -> int:
    target = _target(args.target)
    if args.count < 1:
        raise EndpointError("--count must be at least 1")
    payload: bytes | None = None
    if args.send is not None:
        payload = args.send.encode()
    elif args.size is not None:
        payload = services.pattern(args.size)
    elif args.count > 1 or args.wait_go:
        payload = sys.stdin.buffer.read() if not args.wait_go else None
        if payload is None:
            raise EndpointError("--wait-go needs --send or --size (stdin gives the go)")
    if args.verify_echo and payload is None:
        raise EndpointError("--verify-echo needs --send or --size")
    status = 0
    host = _open_host(args)
    keylog = None
    try:
        host.keylog = keylog = _keylog(args)  # created once the interface is open
        if args.wait_go:
            _say("ready")
            sys.stdin.readline()
        for _ in range(args.count):
            sock = host.connect(target, local_port=args.local_port, timeout=args.timeout)
            status |= _exchange(host, sock, payload, verify=args.verify_echo)
        # TIME-WAIT: stay to acknowledge a repeated FIN (our last ACK may be lost).
        host.run_until(lambda: not host.connections, host.config.tcp.time_wait + 1.0)
    finally:
        host.close()
        if keylog is not None:
            keylog.close()
    return status


def _exchange(host: Host, sock: TcpincSocket, payload: bytes | None, *, verify: bool) -> int:
    received = bytearray()
    out = sys.stdout.buffer

    def deliver(data: bytes) -> None:
        if verify:
            received.extend(data)
        else:
            out.write(data)
            out.flush()

    def on_event(sock: TcpincSocket, event: Event) -> None:
        if isinstance(event, DataReceived):
            deliver(event.data)

    deliver(sock.take_received())
    sock.handler = on_event
    if payload is None:
        _stream_stdin(host, sock)
    else:
        sock.send(payload)
        sock.close()
    host.run_until(lambda: sock.finished)
    status = 0 if sock.abort_reason is None else 1
    if verify:
        ok = bytes(received) == payload
        word = "verified" if ok else "MISMATCH"
        _say(f"echo {word}: {len(received)} of {len(payload or b'')} bytes")
        status |= 0 if ok else 1
    return status
