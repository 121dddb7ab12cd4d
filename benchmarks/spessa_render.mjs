// Render a MIDI file to a float32 stereo WAV with spessasynth_core (offline, in node).
// Usage: node spessa_render.mjs BANK SONG.mid OUT.wav [--rate 48000] [--effects 0|1]
//        [--voices N] [--block FRAMES] [--tail-max SECONDS]
// The package is looked up in benchmarks/cache/node/ (override: SPESSA_MODULE=/path/to/index.js).
//
// The sequencer applies the file's events at the start of each block (rendering quantum), so
// an event lands up to one block late: 128 frames (2.7 ms at 48 kHz) by default.
// The song starts at time 0 (no skip to the first note) so times line up with other renderers.
// After the last event the render goes on until no voice sounds, at most --tail-max seconds.
// Prints one JSON object with the phases' times (bank parse, MIDI parse, render).
import { readFileSync, writeFileSync, renameSync } from "node:fs";
import { pathToFileURL } from "node:url";

const modUrl = process.env.SPESSA_MODULE
    ? pathToFileURL(process.env.SPESSA_MODULE).href
    : new URL("./cache/node/node_modules/spessasynth_core/dist/index.js", import.meta.url).href;
const core = await import(modUrl);
const { SoundBankLoader, SpessaLog, SpessaSynthProcessor, SpessaSynthSequencer, BasicMIDI } = core;

function usage() {
    console.error("usage: node spessa_render.mjs BANK SONG.mid OUT.wav [--rate R] [--effects 0|1] [--voices N] [--block N] [--tail-max S]");
    process.exit(2);
}

const pos = [];
const opt = { rate: 48000, effects: 0, voices: 1024, block: 128, "tail-max": 30 };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
    if (argv[i].startsWith("--")) {
        const k = argv[i].slice(2);
        if (!(k in opt) || i + 1 >= argv.length) usage();
        opt[k] = Number(argv[++i]);
    } else pos.push(argv[i]);
}
if (pos.length !== 3) usage();
const [bankPath, midiPath, outPath] = pos;
SpessaLog.setLogLevel(false, false, false);

const now = () => Number(process.hrtime.bigint()) / 1e9;
const asBuffer = (b) => b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength);

const t0 = now();
const bank = SoundBankLoader.fromArrayBuffer(asBuffer(readFileSync(bankPath)));
const t1 = now();
const midi = BasicMIDI.fromArrayBuffer(asBuffer(readFileSync(midiPath)), midiPath);
const t2 = now();

const rate = opt.rate;
const block = opt.block;
const synth = new SpessaSynthProcessor(rate, { effectsEnabled: !!opt.effects, maxBufferSize: block });
await synth.processorInitialized;
synth.setSystemParameter("voiceCap", opt.voices);
synth.setSystemParameter("interpolationType", 2); // hermite (4-point), the default
synth.soundBankManager.addSoundBank(bank, "main");
const seq = new SpessaSynthSequencer(synth);
seq.skipToFirstNoteOn = false;
seq.loopCount = 0;
seq.loadNewSongList([midi]);
seq.play();

const duration = midi.duration;
const maxFrames = Math.ceil((duration + opt["tail-max"]) * rate) + block;
const left = new Float32Array(maxFrames);
const right = new Float32Array(maxFrames);
const songFrames = Math.ceil(duration * rate);
let frames = 0;
let peakVoices = 0;
const t3 = now();
while (frames + block <= maxFrames) {
    seq.processTick();
    synth.process(left, right, frames, block);
    frames += block;
    const vc = synth.voiceCount;
    if (vc > peakVoices) peakVoices = vc;
    if (frames >= songFrames && seq.isFinished && vc === 0) break;
}
const t4 = now();

// Interleave and write a WAVE_FORMAT_IEEE_FLOAT file.
const data = new Float32Array(frames * 2);
for (let i = 0; i < frames; i++) {
    data[2 * i] = left[i];
    data[2 * i + 1] = right[i];
}
const header = Buffer.alloc(44);
header.write("RIFF", 0);
header.writeUInt32LE(36 + data.byteLength, 4);
header.write("WAVE", 8);
header.write("fmt ", 12);
header.writeUInt32LE(16, 16);
header.writeUInt16LE(3, 20); // IEEE float
header.writeUInt16LE(2, 22);
header.writeUInt32LE(rate, 24);
header.writeUInt32LE(rate * 8, 28);
header.writeUInt16LE(8, 32);
header.writeUInt16LE(32, 34);
header.write("data", 36);
header.writeUInt32LE(data.byteLength, 40);
const tmp = outPath + ".tmp";
writeFileSync(tmp, Buffer.concat([header, Buffer.from(data.buffer)]));
renameSync(tmp, outPath);
const t5 = now();

console.log(JSON.stringify({
    out: outPath,
    frames,
    seconds: frames / rate,
    song_seconds: duration,
    peak_voices: peakVoices,
    bank_parse_s: t1 - t0,
    midi_parse_s: t2 - t1,
    render_s: t4 - t3,
    write_s: t5 - t4,
    total_s: t5 - t0,
}));
