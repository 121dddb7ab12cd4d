"""Standard MIDI Files: the reader (``smf.reader``: a ``.mid`` as a Song of timed messages) and
the writer (``smf.writer``: timed messages of channel groups as a type 1 file)."""
