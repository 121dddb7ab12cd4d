"""Fixtures shared by the test modules: the JACK dummy server (tests/jackrig.py)."""

from tests.jackrig import jack_server  # noqa: F401  (registered here as a fixture for every module)
