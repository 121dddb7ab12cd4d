"""Where outputs go: the folder an output file needs, and the output folders made on demand.

Every command and library call that writes files checks its paths here, so each refusal
has one wording. An output FILE's folder must exist already (a mistyped folder in a file
name is refused, not made); an output FOLDER (``-o DIR/``, ``--stems``, ``--labels DIR/``,
``render_many``'s ``out_dir``) is made when missing, parents too. Nothing here imports more
than the standard library, so a command can check its paths before loading anything.
"""

from __future__ import annotations

import os


class OutputPathError(ValueError):
    """An output path that cannot be used; its text is one line for the user."""


def check_file_folder(path: str) -> None:
    """The folder an output file goes into exists."""
    folder = os.path.dirname(os.path.abspath(path)) or "."
    if not os.path.isdir(folder):
        raise OutputPathError(f"{path}: the folder {folder} does not exist")


def check_folder(folder: str) -> None:
    """An output folder can be used or made: nothing but a folder is there."""
    bare = folder.rstrip(os.sep) or folder  # "file/" of a file: os.path.exists says False
    if os.path.exists(bare) and not os.path.isdir(bare):
        raise OutputPathError(f"{folder}: not a folder")


def make_folder(folder: str) -> None:
    """An output folder, made when missing (parents too), that this process can write in."""
    check_folder(folder)
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as exc:
        raise OutputPathError(f"{folder}: cannot make the folder ({exc.strerror or exc})") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputPathError(f"{folder}: cannot write there (permission denied)")
