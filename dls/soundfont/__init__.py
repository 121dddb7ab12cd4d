"""SoundFont 2 (2.01, 2.04) and SF3 banks read into the DLS collection model.

`dls.read` hands a ``RIFF sfbk`` file here, so a ``.sf2`` is taken wherever a DLS bank is,
and the synth has one instrument model. How SF2 maps onto DLS:

- a preset is an `dls.model.Instrument` (bank 128 = the drum bank, DLS's drum flag);
- each preset zone x instrument zone that can sound is a `dls.model.Region`: the
  generators combine as SF2 2.04 section 9.4 says (`dls.soundfont.zones`); key and
  velocity ranges intersect;
- the generators become DLS2 connection blocks in DLS units
  (`dls.soundfont.articulation`, which documents each unit), the modulators, SF2's
  default ones included, become connections too (`dls.soundfont.modulators`);
- samples are views of the file's ``smpl`` chunk, SF3's Vorbis samples are decoded
  (`dls.soundfont.samples`); 24-bit banks play their top 16 bits;
- what the engine cannot play as the bank means it is listed, one line per preset, in
  ``Collection.warnings``.

Conventions chosen where SF2 players disagree (all documented where they are applied):
initialAttenuation is scaled by E-mu's 0.4, as FluidSynth and the banks voiced on either
expect; sustainVolEnv follows the specification (cB); the default velocity-to-cutoff
modulator is silent, as in FluidSynth (2.3 silences it; measured: its filter does not move
with velocity); an initialFilterFc of 13500 cents that nothing modulates is no filter;
initialFilterQ is the resonant peak's height above the DC gain, as the specification
defines it (FluidSynth's peaks are about 3 dB lower: it takes 3.01 dB off every Q; up to
DLS2's 22.5 dB); the sample plays from note-on through delayVolEnv, as SpessaSynth plays it
(FluidSynth holds the sample still until the attack). What connections cannot say the synth gives every bank of SF2
origin (synth.download, RGN_SF2): triangle LFOs, the modulation envelope's convex attack,
and an initialAttenuation that with its modulators never goes below 0 dB.
"""

from .build import read_sfbk

__all__ = ["read_sfbk"]
