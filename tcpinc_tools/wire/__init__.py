"""Wire codecs: bytes <-> frozen dataclasses, constants, no I/O.

Strict: every decoder returns a value or raises :class:`tcpinc_tools.errors.DecodeError`.
"""
