"""The Linux interfaces the endpoint needs beyond the ``socket`` module: network namespaces
entered per thread, AF_PACKET constants, interface ioctls, and running commands (ip, nft, tc,
tcpdump) inside a namespace.

Namespaces: :func:`in_netns` is :func:`tcpinc_tools.linuxns.in_netns` (a short-lived thread
that enters the namespace; sockets it creates live there) raising :class:`EndpointError`.
"""

from __future__ import annotations

import ctypes
import fcntl
import shutil
import socket
import struct
import subprocess
from collections.abc import Callable, Sequence
from typing import Final, TypeVar

from ..linuxns import ETH_P_ALL, PACKET_OUTGOING, netns_exists
from ..linuxns import in_netns as _in_netns
from .errors import EndpointError

__all__ = [
    "ETH_P_ALL",
    "PACKET_AUXDATA",
    "PACKET_OUTGOING",
    "SOL_PACKET",
    "TPACKET_AUXDATA",
    "TP_STATUS_CSUMNOTREADY",
    "TP_STATUS_CSUM_VALID",
    "disable_tx_checksum",
    "in_netns",
    "interface_mtu",
    "netns_command",
    "netns_exists",
    "require_tools",
    "run",
]

T = TypeVar("T")

# <linux/socket.h> / <linux/if_packet.h>: the packet socket level and its options.
SOL_PACKET: Final = 263
PACKET_AUXDATA: Final = 8
# <linux/if_packet.h>: struct tpacket_auxdata {u32 tp_status, tp_len, tp_snaplen;
# u16 tp_mac, tp_net, tp_vlan_tci, tp_vlan_tpid}; and its tp_status bits: the checksum is
# still to be computed (a local sender's CHECKSUM_PARTIAL, e.g. across a veth), or the
# driver has verified it.
TPACKET_AUXDATA: Final = struct.Struct("=IIIHHHH")
TP_STATUS_CSUMNOTREADY: Final = 1 << 3
TP_STATUS_CSUM_VALID: Final = 1 << 7
# <linux/sockios.h>, <linux/ethtool.h>: get an interface's MTU; set its TX checksum offload.
SIOCGIFMTU: Final = 0x8921
SIOCETHTOOL: Final = 0x8946
ETHTOOL_STXCSUM: Final = 0x00000017
# <net/if.h>: struct ifreq is 40 bytes on 64-bit Linux (16-byte name + a 24-byte union).
_IFREQ_LEN: Final = 40
_IFNAMSIZ: Final = 16


def in_netns(name: str | None, fn: Callable[[], T]) -> T:
    """``fn()`` run inside network namespace ``name`` (None: right here, in this thread);
    a namespace that cannot be entered is an :class:`EndpointError`."""
    return _in_netns(name, fn, error=EndpointError)


def interface_mtu(sock: socket.socket, iface: str) -> int:
    """The MTU of ``iface`` in the namespace of ``sock``."""
    request = struct.pack(f"{_IFNAMSIZ}sI", iface.encode(), 0).ljust(_IFREQ_LEN, b"\0")
    try:
        answer = fcntl.ioctl(sock.fileno(), SIOCGIFMTU, request)
    except OSError as exc:
        raise EndpointError(f"cannot read the MTU of {iface}: {exc.strerror}") from None
    mtu: int = struct.unpack_from("I", answer, _IFNAMSIZ)[0]
    return mtu


def disable_tx_checksum(iface: str, netns: str | None = None) -> None:
    """Turn off TX checksum offload on ``iface`` (as ``ethtool -K IF tx off``).

    The kernel then computes the checksums of the segments it sends (and, with no checksum
    offload, does no TCP segmentation offload), so that captures taken on a veth show
    correct checksums and our endpoint on the other side sees MTU-sized segments.
    """

    def apply() -> None:
        value = ctypes.create_string_buffer(struct.pack("II", ETHTOOL_STXCSUM, 0))
        request = bytearray(struct.pack(f"{_IFNAMSIZ}sP", iface.encode(), ctypes.addressof(value)))
        request = request.ljust(_IFREQ_LEN, b"\0")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            try:
                fcntl.ioctl(sock.fileno(), SIOCETHTOOL, request)
            except OSError as exc:
                raise EndpointError(
                    f"cannot turn off TX checksum offload on {iface}: {exc.strerror}"
                ) from None

    in_netns(netns, apply)


def require_tools(*names: str) -> None:
    missing = [n for n in names if shutil.which(n) is None]
    if missing:
        raise EndpointError(f"needs {', '.join(missing)} (not found on PATH)")


def netns_command(netns: str | None, argv: Sequence[str]) -> list[str]:
    """``argv`` prefixed to run inside ``netns`` (``ip netns exec NS ...``)."""
    return ["ip", "netns", "exec", netns, *argv] if netns is not None else list(argv)


def run(argv: Sequence[str], *, netns: str | None = None, stdin: str | None = None) -> str:
    """Run a command (in ``netns``) to completion; its stdout, or EndpointError with its
    first line of stderr."""
    full = netns_command(netns, argv)
    try:
        proc = subprocess.run(
            full, input=stdin, capture_output=True, text=True, check=False, timeout=30
        )
    except FileNotFoundError:
        raise EndpointError(f"{full[0]}: command not found") from None
    except subprocess.TimeoutExpired:
        raise EndpointError(f"{' '.join(full)}: timed out") from None
    if proc.returncode != 0:
        lines = (proc.stderr or proc.stdout).strip().splitlines()
        detail = lines[0] if lines else f"exit status {proc.returncode}"
        raise EndpointError(f"{' '.join(argv[:3])}: {detail}")
    return proc.stdout
