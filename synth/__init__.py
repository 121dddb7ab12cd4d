"""The DirectMusic model: kernel events, the miniport (IMiniportDMus) and its Service
thread, MXF streams (IMXF), live MIDI inputs, the file source, and the Synth
(ISynthSinkDMus) with its master clock and SyncToMaster drift correction."""
