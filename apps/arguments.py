"""Command-line options more than one command takes, each defined once."""

from __future__ import annotations


def add_bank_option(parser) -> None:
    """``--bank BANK``, repeatable: the banks `render` and `play` load (none: the built-in one)."""
    parser.add_argument(
        "--bank",
        action="append",
        default=[],
        metavar="BANK.dls",
        help="a DLS, SF2 or SF3 bank (repeatable; later banks take precedence per instrument)",
    )
