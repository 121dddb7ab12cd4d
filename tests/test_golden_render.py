"""The kept golden renders (tests/golden.py): every case rendered by the command now is the
kept render, sample for sample to within one 24-bit step, for the same length. A failure
means the sound changed: if that was meant, `python -m tests.golden --update` keeps the new
renders (and the change shows in the commit)."""

from __future__ import annotations

import pytest

from tests import golden
from tests.jackrig import in_ci


@pytest.mark.parametrize("case", golden.CASES, ids=lambda c: c.name)
def test_render_is_the_kept_render(case, tmp_path):
    if case.bank is not None and not case.bank.exists():
        msg = f"{case.bank} is missing (apt-get install timgm6mb-soundfont)"
        pytest.fail(msg) if in_ci() else pytest.skip(msg)
    data = golden.render(case, tmp_path / "now.wav")
    snr, diff, n, m = golden.compare(case, data)
    assert n == m, f"{case.name}: {n} frames now, {m} kept"
    assert snr >= golden.MIN_SNR_DB, f"{case.name}: the sound changed (SNR {snr:.1f} dB against the kept render)"
    assert diff <= golden.ROUNDING, (
        f"{case.name}: differs from the kept render by up to {diff:.2e} "
        f"(SNR {snr:.1f} dB); if meant: python -m tests.golden --update"
    )
