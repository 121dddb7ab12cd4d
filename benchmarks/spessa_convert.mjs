// Convert an SF2 sound bank to DLS with spessasynth_core.
// Usage: node spessa_convert.mjs IN.sf2 OUT.dls
// The package is looked up in benchmarks/cache/node/ (override: SPESSA_MODULE=/path/to/index.js).
import { readFileSync, writeFileSync, renameSync } from "node:fs";
import { pathToFileURL } from "node:url";

const modUrl = process.env.SPESSA_MODULE
    ? pathToFileURL(process.env.SPESSA_MODULE).href
    : new URL("./cache/node/node_modules/spessasynth_core/dist/index.js", import.meta.url).href;
const { SoundBankLoader, SpessaLog } = await import(modUrl);

const [inPath, outPath] = process.argv.slice(2);
if (!inPath || !outPath) {
    console.error("usage: node spessa_convert.mjs IN.sf2 OUT.dls");
    process.exit(2);
}
SpessaLog.setLogLevel(false, false, false);

const data = readFileSync(inPath);
const buf = data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength);
const bank = SoundBankLoader.fromArrayBuffer(buf);
const out = await bank.writeDLS({ software: "dlsynth benchmark (spessasynth_core)" });
const tmp = outPath + ".tmp";
writeFileSync(tmp, new Uint8Array(out));
renameSync(tmp, outPath);
console.log(JSON.stringify({
    out: outPath,
    bytes: out.byteLength,
    presets: bank.presets.length,
    instruments: bank.instruments.length,
    samples: bank.samples.length,
}));
