// Time spessasynth_core's parse of a sound bank (DLS or SF2).
// Usage: node spessa_load.mjs BANK [RUNS]
// Reads the file once, then times only SoundBankLoader.fromArrayBuffer, RUNS times.
// Prints one JSON object: per-run seconds, best, and what the loader saw.
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";

const modUrl = process.env.SPESSA_MODULE
    ? pathToFileURL(process.env.SPESSA_MODULE).href
    : new URL("./cache/node/node_modules/spessasynth_core/dist/index.js", import.meta.url).href;
const { SoundBankLoader, SpessaLog } = await import(modUrl);

const bankPath = process.argv[2];
const runs = Math.max(1, parseInt(process.argv[3] ?? "5", 10));
if (!bankPath) {
    console.error("usage: node spessa_load.mjs BANK [RUNS]");
    process.exit(2);
}
SpessaLog.setLogLevel(false, false, false);

const data = readFileSync(bankPath);
const times = [];
let bank = null;
for (let i = 0; i < runs; i++) {
    // A fresh copy each run, outside the timed span, in case the loader keeps views on it.
    const buf = data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength);
    bank = null;
    const t0 = process.hrtime.bigint();
    bank = SoundBankLoader.fromArrayBuffer(buf);
    const t1 = process.hrtime.bigint();
    times.push(Number(t1 - t0) / 1e9);
}

let instrumentZones = 0;
for (const ins of bank.instruments) instrumentZones += ins.zones.length;
let presetZones = 0;
for (const p of bank.presets) presetZones += p.zones.length;

console.log(JSON.stringify({
    version: JSON.parse(readFileSync(new URL("../package.json", modUrl), "utf8")).version,
    node: process.version,
    type: bank.type,
    bytes: data.byteLength,
    runs: times,
    best: Math.min(...times),
    presets: bank.presets.length,
    instruments: bank.instruments.length,
    regions: instrumentZones,
    preset_zones: presetZones,
    samples: bank.samples.length,
}));
