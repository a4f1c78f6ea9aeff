"""The subcommands of ``tcpinc``, one module each; :mod:`tcpinc_tools.cli` dispatches to them.

Each module gives ``HELP`` (one line for ``tcpinc --help``), ``configure(parser)`` (its
arguments) and ``run(args) -> int`` (the exit status). This is the top layer with
:mod:`tcpinc_tools.cli`: it may import every other layer, and none imports it.
"""
