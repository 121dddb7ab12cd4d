"""The wave sinks: the port driver's side of ISynthSinkDMus::Render, pulling the Synth's
buffers into a live device (`wavesink`, a C callback) or a WAV file (`filesink`)."""
