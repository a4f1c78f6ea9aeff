"""A socket-shaped API for applications: ``connect``, ``listen`` / ``accept``, ``send``,
``recv``, ``close``, and the draft-ietf-tcpinc-api-06 accessors.

    from tcpinc_tools.endpoint import connect

    with connect(("10.201.0.2", 7), iface="tci0a", addr="10.201.0.1") as sock:
        sock.sendall(b"hello")
        print(sock.recv(100), sock.session_id.hex(), sock.role)

Each call here opens its own :class:`~.host.Host` (a packet socket on ``iface`` speaking for
``addr``, and its nftables table) and closes it with the socket or listener. To run many
connections on one address, use a ``Host`` directly (``Host.open(...)``, then
``host.connect`` / ``host.listen``).
"""

from __future__ import annotations

from ..keylog import KeyLogWriter
from ..protocol.connection import TcpincConfig
from .conn import TcpincSocket
from .host import Host, Listener

__all__ = ["connect", "listen"]


def connect(
    address: tuple[str, int],
    *,
    iface: str,
    addr: str,
    netns: str | None = None,
    config: TcpincConfig | None = None,
    keylog: KeyLogWriter | None = None,
    local_port: int | None = None,
    timeout: float | None = 10.0,
) -> TcpincSocket:
    """Connect to ``address`` from ``addr`` on ``iface``; returns once the connection is
    encrypted (or plain TCP after a fallback). ConnectionFailed if it aborts or times out;
    EndpointError if the interface, address or privileges do not allow it."""
    host = Host.open(iface, addr, netns=netns, config=config, keylog=keylog)
    try:
        sock = host.connect(address, local_port=local_port, timeout=timeout)
    except BaseException:
        host.close()
        raise
    sock.owns_host = True
    return sock


def listen(
    port: int,
    *,
    iface: str,
    addr: str,
    netns: str | None = None,
    config: TcpincConfig | None = None,
    keylog: KeyLogWriter | None = None,
) -> Listener:
    """Listen on ``addr``:``port``; ``accept()`` returns each connection once it is ready."""
    host = Host.open(iface, addr, netns=netns, config=config, keylog=keylog)
    try:
        listener = host.listen(port)
    except BaseException:
        host.close()
        raise
    listener.owns_host = True
    return listener
