"""`dlsynth info`: text and JSON, exit status, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from dlsynth import dls
from dlsynth.apps.cli import main

from . import riffbuild as rb

DATA = Path(__file__).parent / "data"
SPEC_TEST = DATA / "sf-spec-test" / "sf_spec_test.dls"
LIBGIG = DATA / "libgig-generated" / "libgig-generated.dls"


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dlsynth", *args], capture_output=True, text=True, timeout=120)


def test_info_json_structure(capsys):
    assert main(["info", "--json", str(SPEC_TEST)]) == 0
    d = json.loads(capsys.readouterr().out)
    assert {"instruments", "waves", "warnings", "articulations"} <= d.keys()
    assert len(d["instruments"]) == 7 and len(d["waves"]) == 46
    assert d["region_count"] == 174
    ins = d["instruments"][0]
    assert {"name", "bank_msb", "bank_lsb", "drum", "program", "regions", "articulation"} <= ins.keys()
    r = ins["regions"][0]
    assert {"key_low", "key_high", "vel_low", "vel_high", "wave", "wsmp", "articulation"} <= r.keys()
    # Articulation in human units: the region's EG1 release of the first test instrument.
    conns = [c for aid in r["articulation"] for c in d["articulations"][aid]["connections"]]
    rel = [c for c in conns if c["destination"] == "eg1_release"]
    assert rel and rel[0]["unit"] == "s" and rel[0]["value"] == pytest.approx(100.0, rel=1e-3)


def test_info_json_units():
    from dlsynth.dls.describe import connection_value
    from dlsynth.dls import constants as C

    assert connection_value(0, C.CONN_DST_EG1_ATTACKTIME, -0x80000000) == (0.0, "s")
    assert connection_value(0, C.CONN_DST_EG1_ATTACKTIME, 1200 * 65536) == (2.0, "s")
    assert connection_value(0, C.CONN_DST_LFO_FREQUENCY, 6900 * 65536) == (440.0, "Hz")
    assert connection_value(0, C.CONN_DST_FILTER_CUTOFF, 0x7FFFFFFF) == (None, "off")
    assert connection_value(0, C.CONN_DST_EG1_SUSTAINLEVEL, 1000 * 65536) == (100.0, "%")
    assert connection_value(C.CONN_SRC_KEYONVELOCITY, C.CONN_DST_GAIN, -960 * 65536) == (-96.0, "dB")
    assert connection_value(C.CONN_SRC_PITCHWHEEL, C.CONN_DST_PITCH, 12800 * 65536) == (12800.0, "cents")
    assert connection_value(C.CONN_SRC_KEYNUMBER, C.CONN_DST_EG1_DECAYTIME, -1200 * 65536) == (-1200.0, "timecents")


def test_info_text(capsys):
    assert main(["info", "--waves", str(LIBGIG)]) == 0
    out = capsys.readouterr().out
    assert "DLS Level 1" in out and "3 instruments" in out
    assert "VelLayers 8bit/16bit" in out and "drum" in out
    assert "vel 0-63" in out and "vel 64-127" in out
    assert "stereo16" in out
    assert "warning(s)" in out and "insh after lrgn" in out


def test_info_text_shows_articulation_in_units(capsys):
    assert main(["info", str(SPEC_TEST)]) == 0
    out = capsys.readouterr().out
    assert "eg1_release = 100 s" in out


def test_info_bad_bank_exit_2_one_line(tmp_path):
    bad = tmp_path / "bad.dls"
    bad.write_bytes(rb.simple_bank()[:300])
    p = run_cli("info", str(bad))
    assert p.returncode == 2
    assert p.stdout == ""
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dlsynth info: error: ") and str(bad) in lines[0]
    assert "Traceback" not in p.stderr


@pytest.mark.parametrize("content", [b"", b"not a bank", b"RIFF\x04\x00\x00\x00sfbk"])
def test_info_not_dls(tmp_path, content):
    f = tmp_path / "x.dls"
    f.write_bytes(content)
    p = run_cli("info", str(f))
    assert p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1


def test_info_missing_file():
    p = run_cli("info", "/nonexistent/bank.dls")
    assert p.returncode == 2
    assert "no such file" in p.stderr and len(p.stderr.strip().splitlines()) == 1


def test_info_json_brief(capsys):
    assert main(["info", "--json", "--brief", str(LIBGIG)]) == 0
    d = json.loads(capsys.readouterr().out)
    assert "regions" not in d["instruments"][0]
    assert len(d["warnings"]) == 8


def test_info_good_bank_written_in_test(tmp_path, capsys):
    col = dls.read(rb.simple_bank())
    path = tmp_path / "ok.dls"
    dls.write(col, path)
    assert main(["info", "--json", str(path)]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["instruments"][0]["program"] == 5 and d["warnings"] == []


@pytest.mark.parametrize("path", [SPEC_TEST, LIBGIG], ids=lambda p: p.name)
def test_info_json_text_is_exactly_json_dumps(path):
    """`to_json` encodes shared connection dicts once; the text must not change for it."""
    from dlsynth.dls.describe import describe, to_json

    for lazy in (True, False):
        data = describe(dls.read(path, lazy=lazy))
        assert to_json(data) == json.dumps(data, separators=(",", ":"), check_circular=False, ensure_ascii=False)
    data["name"] = 'Ünïcode \u2603 "quoted"\n'
    data["articulations"].append({"id": -1, "level": 2, "connections": [], "note": None, "x": 1.5})
    assert to_json(data) == json.dumps(data, separators=(",", ":"), ensure_ascii=False)


def _dumps(data: dict) -> str:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


@pytest.mark.parametrize(
    "path",
    [SPEC_TEST, LIBGIG, DATA / "libgig-generated" / "libgig-generated-mono.dls", SPEC_TEST.with_suffix(".sf2")],
    ids=lambda p: p.name,
)
def test_describe_json_is_the_json_of_describe(path):
    """`info --json` writes straight from the model: the same bytes as json.dumps(describe())."""
    from dlsynth.dls.describe import describe, describe_json

    for lazy in (True, False):
        col = dls.read(path, lazy=lazy)
        data = describe(col)
        assert describe_json(dls.read(path, lazy=lazy)) == _dumps(data)
        for ins in data["instruments"]:
            ins.pop("regions")
            ins.pop("articulation")
        assert describe_json(col, brief=True) == _dumps(data)


def test_describe_json_of_a_hand_built_collection():
    """Fields that are not plain ints (bools, floats) go the general way, with the same text."""
    from dlsynth.dls.describe import describe, describe_json

    col = dls.read(
        rb.simple_bank(
            region_extra=rb.wsmp(loops=[(1, 10, 20)]) + rb.lst(b"lar2", rb.art(b"art2", [(0, 0, 0x206, 0, 5)]))
        )
    )
    col.load_all()
    r = col.instruments[0].regions[0]
    extra = dls.Region(
        key_low=True,
        layer=3,
        wave_sample=dls.WaveSample(60, 0, 1.5, 0, [dls.Loop(0, 1, 2)]),
        articulations=r.articulations,
    )
    col.instruments[0].regions.append(extra)
    col.instruments[0].articulations.append(r.articulations[0])
    assert describe_json(col) == _dumps(describe(col))


def test_info_json_matches_describe_on_the_default_bank(capsys):
    from dlsynth.gmbank import default_bank_path
    from dlsynth.dls.describe import describe

    assert main(["info", "--json"]) == 0
    assert capsys.readouterr().out == _dumps(describe(dls.read(default_bank_path()))) + "\n"
