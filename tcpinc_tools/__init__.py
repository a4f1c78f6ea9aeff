"""tcpinc_tools: analyzer, dissector, generator and endpoint for TCP-ENO and tcpcrypt.

TCP-ENO is RFC 8547, tcpcrypt is RFC 8548. Two wire dialects are supported: ``rfc``
(option kind 69) and ``legacy`` (kind 253 with ExID 0x454E, as sent by tcpcryptd 0.5).
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
