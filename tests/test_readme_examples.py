"""The README's "Python library" examples run as written.

Every ```python block of that section is run as its own script in a fresh interpreter, in a
scratch folder holding the files the examples name (song.mid: a jazz-soft test file;
song.sf2: TimGM6mb, the Debian package timgm6mb-soundfont's), bounded in time; each must
exit 0 (the examples assert what they show).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.peers import TIMGM_SF2 as TIMGM

REPO = Path(__file__).resolve().parents[1]
SECTION = "## Python library"
SONG = REPO / "tests" / "data" / "midi" / "jazz-soft" / "test-c-major-scale.mid"
EXAMPLE_SECONDS = 300  # each example's bound (a render of a few seconds takes well under one)


def examples() -> list[str]:
    text = (REPO / "README.md").read_text()
    start = text.index(SECTION + "\n")
    nxt = text.find("\n## ", start + len(SECTION))
    section = text[start : nxt if nxt >= 0 else len(text)]
    return re.findall(r"^```python\n(.*?)^```", section, flags=re.S | re.M)


def test_the_section_has_its_three_examples():
    assert len(examples()) == 3


@pytest.mark.parametrize("index", range(3))
def test_readme_example_runs(tmp_path, index):
    code = examples()[index]
    shutil.copy(SONG, tmp_path / "song.mid")
    (tmp_path / "song.sf2").symlink_to(TIMGM)
    script = tmp_path / f"example{index}.py"
    script.write_text(code)
    p = subprocess.run(
        [sys.executable, str(script)], cwd=str(tmp_path), capture_output=True, text=True, timeout=EXAMPLE_SECONDS
    )
    assert p.returncode == 0, f"example {index}:\n{code}\n{p.stderr}"
    if index == 0:
        import soundfile as sf

        info = sf.info(tmp_path / "song.wav")
        assert (info.samplerate, info.channels, info.subtype) == (48000, 2, "FLOAT")
