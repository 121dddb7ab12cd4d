"""The one exception a broken DLS file raises."""


class DLSError(Exception):
    """A DLS file (or a collection being written) that cannot be used.

    The message names the chunk path and byte offset where reading stopped, for example
    ``LIST lins > LIST ins #12 > LIST lrgn > rgn2 #3 > wsmp at 0x1a2c: size 12 < 20``.
    """
