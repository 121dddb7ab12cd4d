"""cffi build script for the native core (out-of-line API mode).

Named in setup.py's ``cffi_modules``; builds the extension ``dlsynth.native._engine`` (this folder, by the
package mapping in pyproject.toml) from every C
source in this folder. The ``cdef`` is read from engine.h (between the CDEF markers) so the
header stays the single source of truth.

Environment:
  DLSYNTH_SANITIZE=1   build with AddressSanitizer and UndefinedBehaviorSanitizer
                       (run Python with LD_PRELOAD=$(gcc -print-file-name=libasan.so)).
  DLSYNTH_SANITIZE=thread
                       build with ThreadSanitizer, for the render workers
                       (run Python with LD_PRELOAD=$(gcc -print-file-name=libtsan.so)).
  DLSYNTH_DEBUG=1      build with -O0 -g.

Run directly (``python native/build_engine.py``) to build in place for development (the same as
``python setup.py build_ext --inplace``).
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

from cffi import FFI

HERE = Path(__file__).resolve().parent
HEADER = HERE / "engine.h"


def read_cdef(header: Path = HEADER) -> str:
    text = header.read_text()
    m = re.search(r"/\* CDEF-BEGIN \*/(.*)/\* CDEF-END \*/", text, re.S)
    if not m:
        raise RuntimeError(f"{header}: CDEF markers not found")
    body = m.group(1)
    # Drop comments and preprocessor lines: cffi's parser takes plain declarations.
    body = re.sub(r"/\*.*?\*/", "", body, flags=re.S)
    body = re.sub(r"//[^\n]*", "", body)
    lines = [ln for ln in body.splitlines() if not ln.lstrip().startswith("#")]
    return "\n".join(lines)


def _compile_args() -> tuple[list[str], list[str]]:
    cflags = ["-std=c11", "-Wall", "-Wextra", "-Wno-unused-parameter", "-fno-strict-aliasing"]
    ldflags: list[str] = []
    if sys.platform != "win32":
        cflags.append("-pthread")  # the render workers (native/eng_workers.c)
        ldflags.append("-pthread")
    if os.environ.get("DLSYNTH_DEBUG") == "1":
        cflags += ["-O0", "-g"]
    else:
        cflags += ["-O3"]
    if sys.platform != "win32" and os.uname().machine in ("x86_64", "AMD64"):
        # SSE2 is the x86-64 baseline; no -ffast-math anywhere (denormals are flushed in code).
        cflags += ["-msse2"]
    if os.environ.get("DLSYNTH_SANITIZE") == "1":
        san = ["-fsanitize=address,undefined", "-fno-omit-frame-pointer", "-fno-sanitize-recover=undefined", "-g"]
        cflags += san
        ldflags += san
    elif os.environ.get("DLSYNTH_SANITIZE") == "thread":
        san = ["-fsanitize=thread", "-fno-omit-frame-pointer", "-g"]
        cflags += san
        ldflags += san
    return cflags, ldflags


ffibuilder = FFI()
ffibuilder.cdef(read_cdef())
_cflags, _ldflags = _compile_args()
ffibuilder.set_source(
    "dlsynth.native._engine",
    '#include "engine.h"\n',
    sources=sorted(str(p.relative_to(HERE.parent)) for p in HERE.glob("*.c") if not p.name.startswith("_")),
    include_dirs=[str(HERE)],
    depends=sorted(str(p.relative_to(HERE.parent)) for p in HERE.glob("*.h")),  # a header change rebuilds
    extra_compile_args=_cflags,
    extra_link_args=_ldflags,
    libraries=["m", "dl"],
)

if __name__ == "__main__":
    import subprocess
    import sys

    raise SystemExit(subprocess.call([sys.executable, "setup.py", "build_ext", "--inplace"], cwd=HERE.parent))
