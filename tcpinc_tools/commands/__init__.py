"""The subcommands of ``tcpinc``, one module each; :mod:`tcpinc_tools.cli` dispatches to them.

Each module gives ``HELP`` (one line for ``tcpinc --help``), ``configure(parser)`` (its
arguments) and ``run(args) -> int`` (the exit status). This is the top layer with
:mod:`tcpinc_tools.cli`: it may import every other layer, and none imports it.

:data:`COMMANDS` names them, in the order ``tcpinc --help`` lists them, with their ``HELP``
lines: the entry point lists every subcommand from it and imports only the module of the one
it runs (some pull in the endpoint, the TUI or the whole analyzer).
"""

from __future__ import annotations

from typing import Final

__all__ = ["COMMANDS"]

# name -> the one line `tcpinc --help` gives it (the module's HELP).
COMMANDS: Final[dict[str, str]] = {
    "analyze": "report per connection: TCP-ENO outcome, tcpcrypt session, findings (decrypts)",
    "decrypt": "write a copy of a capture with tcpcrypt replaced by its plaintext (key log)",
    "follow": "show a connection's conversation as text, decrypted (like Follow TCP Stream)",
    "gen": "generate a scenario's traffic as a pcap/pcapng capture and key log (no privileges)",
    "lab": "run a scenario live between two endpoints in network namespaces (root)",
    "endpoint": "the raw-socket TCP-ENO/tcpcrypt endpoint: listen or connect (root)",
    "monitor": "terminal UI: watch TCP-ENO / tcpcrypt connections live (interface or capture)",
    "wireshark": "install, locate or check the Wireshark/tshark Lua dissector",
}
