"""SpessaSynth as a second reader of the DLS files dlsynth writes (benchmarks/fidelity.py).

The issue's requirement: SpessaSynth reading ``dlsynth convert X.sf2 X.dls`` must agree with
FluidSynth reading X.sf2 within the song targets, so the files dlsynth writes are right for
other synths too. This module makes the two things fidelity.py needs for that:

* the DLS conversion by the dlsynth checkout under test (``python -m dlsynth convert``), kept
  under benchmarks/cache/fidelity/ by the hash of the SF2 and of the checkout's code;
* SpessaSynth renders (spessasynth_core in node, benchmarks/spessa_render.mjs, reverb and
  chorus off, hermite interpolation, 48 kHz float), of the SF2 itself and of that DLS,
  cached like the other renders. SpessaSynth applies a file's events at the start of each
  128-frame block: up to 2.7 ms late, alike in both of its renders.

``dls_properties`` reads the conversion back and says, per preset, which of the constructs
SpessaSynth's DLS reader is known to take otherwise than its SF2 reader (see
benchmarks/SPESSASYNTH_DLS.md): a static gain above 0 dB (an SF2 preset's negative
initialAttenuation), a key-number-to-pitch connection (SF2 scaleTuning other than 100).
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

HERE = Path(__file__).resolve().parent
RENDER_MJS = HERE / "spessa_render.mjs"
TAIL_MAX_S = 30  # after the last event SpessaSynth renders until silence, at most this long


class SpessaError(RuntimeError):
    pass


def version() -> str:
    """spessasynth_core's version (installed on first use, as benchmarks/bank_load.py does)."""
    import bank_load

    try:
        bank_load.ensure_spessasynth()
    except (bank_load.BenchError, subprocess.CalledProcessError) as e:
        raise SpessaError(f"SpessaSynth is not available ({e}); run with --no-spessa") from None
    return json.loads((bank_load.SPESSA_PKG / "package.json").read_text())["version"]


def render_command(bank: Path, midi: Path, out: Path, rate: int, voices: int) -> list[str]:
    return [
        "node",
        str(RENDER_MJS),
        str(bank),
        str(midi),
        str(out),
        "--rate",
        str(rate),
        "--voices",
        str(voices),
        "--effects",
        "0",
        "--tail-max",
        str(TAIL_MAX_S),
    ]


def script_hash() -> str:
    return hashlib.sha256(RENDER_MJS.read_bytes()).hexdigest()


def run_render(bank: Path, midi: Path, out: Path, rate: int, voices: int) -> dict:
    cmd = render_command(bank, midi, out, rate, voices)
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0 or not out.is_file():
        raise SpessaError(f"SpessaSynth failed on {midi.name} with {bank.name}: {p.stderr.strip()[-500:]}")
    info: dict = {"cmd": cmd}
    try:
        info["summary"] = json.loads(p.stdout)
    except ValueError:
        pass
    return info


def convert_command(python: str, sf2: Path, out: Path) -> list[str]:
    return [python, "-m", "dlsynth", "convert", str(sf2), str(out), "-q"]


def dls_properties(dls_path: Path, env: dict, python: str, cwd: Path) -> dict[tuple[int, int], dict]:
    """Per (bank, program) of the DLS (bank 128: drum kits): whether any region has a static
    gain above 0 dB, and whether any has a key-number-to-pitch connection. Read by the
    checkout under test (its `dls.read`), in a child process."""
    code = r"""
import json, sys
from dlsynth import dls
from dlsynth.dls import constants as C
col = dls.read(sys.argv[1])
out = {}
for ins in col.instruments:
    gain = key_pitch = False
    for r in ins.regions:
        for a in (r.articulations or ins.articulations):
            b = a.blocks
            static = (b["source"] == C.CONN_SRC_NONE) & (b["control"] == C.CONN_SRC_NONE)
            gain |= bool((static & (b["destination"] == C.CONN_DST_GAIN) & (b["scale"] > 0)).any())
            key_pitch |= bool(((b["source"] == C.CONN_SRC_KEYNUMBER) & (b["control"] == C.CONN_SRC_NONE)
                               & (b["destination"] == C.CONN_DST_PITCH)).any())
    bank = 128 if ins.is_drum else ins.bank_msb
    out[f"{bank}:{ins.program}"] = {"positive_gain": gain, "key_to_pitch": key_pitch}
print(json.dumps(out))
"""
    p = subprocess.run([python, "-c", code, str(dls_path)], capture_output=True, text=True, cwd=cwd, env=env)
    if p.returncode != 0:
        raise SpessaError(f"reading {dls_path.name} back failed: {p.stderr.strip()[-300:]}")
    return {tuple(int(x) for x in k.split(":")): v for k, v in json.loads(p.stdout).items()}
