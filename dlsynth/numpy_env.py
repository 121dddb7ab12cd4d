"""Imported before NumPy, this makes NumPy's OpenBLAS run one thread. The command line
(apps/cli.py) imports it first, and so do the benchmarks that time work in their own
process, so that they measure what the command runs.

OpenBLAS starts a thread per core when it loads, and they spin a while (in a benchmark
without this, 16 % of the CPU samples were in OpenBLAS's blas_thread_server): dlsynth does
no linear algebra worth threads, and its own threads need the cores. No effect once NumPy
is loaded, or where OPENBLAS_NUM_THREADS is set. Not done by ``import dlsynth``: a program
using the library keeps its BLAS as it is."""

from __future__ import annotations

import os
import sys

if "numpy" not in sys.modules:
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
