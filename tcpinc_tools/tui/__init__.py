"""``tcpinc monitor``: a terminal UI (textual) over the live analysis of a capture file, a
capture still being written, or an interface.

A view layer: the connections, findings and decryption come from
:mod:`tcpinc_tools.analysis.live`; this package reads packets (:mod:`.sources`), feeds them
to the analysis in a worker thread (:mod:`.ingest`) and shows the result (:mod:`.app`:
:func:`~.app.create_app` builds the app).

Importing this package (or :mod:`.config`, :mod:`.sources`) does not import textual: only
:mod:`.app` and the widgets do, so ``tcpinc`` starts as fast for the other commands.
"""

from __future__ import annotations

from .config import MonitorConfig

__all__ = ["MonitorConfig"]
