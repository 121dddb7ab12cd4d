"""Fixtures shared by the test modules: the JACK dummy server (tests/jackrig.py), and the
built-in bank built once before any test (on a new machine its first use takes seconds and
says so on stderr; the tests of that first use build their own in a scratch cache)."""

import pytest

from tests.jackrig import jack_server  # noqa: F401  (registered here as a fixture for every module)


@pytest.fixture(scope="session", autouse=True)
def _built_in_bank_cached():
    from dlsynth.gmbank import default_bank_path

    default_bank_path()
