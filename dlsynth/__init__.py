"""dlsynth: a real-time software synthesizer for DLS (Level 1 and 2) and SoundFont 2/3 banks.

The project is one import package. Its parts, each a subpackage:

* ``dlsynth.dls``: the bank model and the DLS, SF2 and SF3 readers and writers;
* ``dlsynth.synth``: the DirectMusic miniport (IMiniportDMus), its streams (IMXF) and the Synth
  (ISynthSinkDMus);
* ``dlsynth.sink``: the wave sinks (IDirectMusicSynthSink): live audio and files;
* ``dlsynth.native``: the C core (voices, MIDI meaning, the audio callback), built by cffi;
* ``dlsynth.apps``: the ``dlsynth`` command.
"""

__version__ = "0.1.0"
