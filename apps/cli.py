"""The `dlsynth` command: subcommands wire the pieces together and report.

Every failure a user can cause (a broken bank, a missing file, a bad option) ends in one
line on stderr and exit status 2; Ctrl-C ends with status 130. Never a traceback, unless
DLSYNTH_DEBUG=1 is set in the environment.
"""

from __future__ import annotations

import os
import signal
import sys


def _early_interrupt(signum, frame):  # pragma: no cover - timing dependent
    """Ctrl-C (or SIGTERM) before the command has anything to clean up: leave at once,
    one line, status 130 (143 for SIGTERM), never a traceback from a half-done import."""
    try:
        os.write(2, b"dlsynth: interrupted\n")
    finally:
        os._exit(130 if signum == signal.SIGINT else 143)


# Until main takes over (it turns these into exceptions once cleanup matters). Here, not in
# the package's __init__: a program that imports dlsynth's library parts (render_file,
# render_many) keeps its own Ctrl-C. A launcher may hold (block) both signals while Python
# starts, where a Ctrl-C would end in CPython's own traceback (dev/run.sh does, with
# `env --block-signal`): they are let through here, a held one arriving at once.
HELD_SIGNALS = (signal.SIGINT, signal.SIGTERM)
try:
    signal.signal(signal.SIGINT, _early_interrupt)
    signal.signal(signal.SIGTERM, _early_interrupt)
except ValueError:  # imported from a thread other than the main one
    pass
else:
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, HELD_SIGNALS)

import argparse  # noqa: E402
import importlib  # noqa: E402

from dlsynth.apps import interrupts  # noqa: E402

# Subcommand modules: each has add_parser(subparsers) and run(args) -> int.
SUBCOMMANDS = (
    "dlsynth.apps.render",
    "dlsynth.apps.play",
    "dlsynth.apps.info",
    "dlsynth.apps.devices",
    "dlsynth.apps.convert",
)
OPTIONAL_SUBCOMMANDS = ("dlsynth.apps.bench",)
#: the command each module adds (a command line naming one imports only that module)
COMMAND_MODULES = {
    "render": "dlsynth.apps.render",
    "play": "dlsynth.apps.play",
    "info": "dlsynth.apps.info",
    "devices": "dlsynth.apps.devices",
    "bench": "dlsynth.apps.bench",
}


from .errors import UserError  # noqa: E402  (one class, whether run as a module or a script)


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole command line; with ``only`` (a command name), just that subcommand, so a
    run imports the one module it needs (``dlsynth render`` never imports live play's or
    the benchmarks' modules)."""
    from dlsynth import __version__

    parser = argparse.ArgumentParser(
        prog="dlsynth",
        description="A real-time software synthesizer for DLS (Downloadable Sounds Level 1 and 2) banks.",
    )
    parser.add_argument("--version", action="version", version=f"dlsynth {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    if only == "--version":
        names = ()  # the version alone needs no subcommand's module
    else:
        names = SUBCOMMANDS + OPTIONAL_SUBCOMMANDS if only is None else (COMMAND_MODULES[only],)
    for name in names:
        try:
            mod = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name and name in OPTIONAL_SUBCOMMANDS:
                if only is not None:
                    return build_parser()  # not installed: the whole parser says what is
                continue
            raise
        mod.add_parser(sub)
    return parser


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip() or exc.__class__.__name__
    return " ".join(text.split())


def _command_in(argv: list[str]) -> str | None:
    """The subcommand an argument list names, when the top-level parser needs no other (the
    top-level options take no values, so it is the first word not starting with '-');
    "--version" when that comes first; None when help is asked for before it, or the word
    is not a command."""
    for arg in argv:
        if arg in ("-h", "--help"):
            return None
        if arg == "--version":
            return arg
        if not arg.startswith("-"):
            return arg if arg in COMMAND_MODULES else None
    return None


#: commands that leave nothing to tear down when they return: run as the program, they end
#: the process at once (see _leave)
FAST_EXIT = ("render", "info")


def _leave(status: int) -> None:
    """End the process now with this status, once stdout and stderr are flushed: the
    interpreter's own teardown (freeing every module, array and the bank's objects, which
    the system frees anyway) takes tens of milliseconds, a large part of a short job."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(status)


def main(argv: list[str] | None = None) -> int:
    """The command line (``argv``: the arguments, default sys.argv[1:]). Run as the program
    (no ``argv``), `render` and `info` run without the cyclic garbage collector and end the
    process when done (`_leave`)."""
    command = _command_in(sys.argv[1:] if argv is None else list(argv))
    if argv is None:
        import dlsynth.numpy_env  # noqa: F401  (one OpenBLAS thread: see there)
    if argv is None and command in FAST_EXIT:
        # A short-lived process that makes no garbage worth collecting: the cyclic collector
        # would only scan, again and again, the objects of the imports and of the bank.
        import gc

        gc.disable()
    status = _main(argv, command)
    if argv is None and command in FAST_EXIT:
        _leave(status)
    return status


def _main(argv: list[str] | None, command: str | None) -> int:
    parser = build_parser(command)
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help(sys.stderr)
        return 2
    debug = os.environ.get("DLSYNTH_DEBUG") == "1"
    from dlsynth.dls.errors import DLSError

    try:
        # From here on Ctrl-C and SIGTERM are exceptions, so every command cleans up.
        interrupts.install()
    except ValueError:  # not the main thread (tests call main from one)
        pass
    try:
        return int(args.run(args) or 0)
    except interrupts.Terminated:
        print("dlsynth: terminated", file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        print("dlsynth: interrupted", file=sys.stderr)
        return 130
    except (DLSError, UserError) as exc:
        if debug:
            raise
        print(f"dlsynth {args.command}: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # Output piped into a program that stopped reading (head, less): not an error of ours.
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        return 0
    except OSError as exc:
        if debug:
            raise
        where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
        print(f"dlsynth {args.command}: error: {where}{exc.strerror or _one_line(exc)}", file=sys.stderr)
        return 2
    except Exception as exc:  # a bug of ours: still one line, with a hint
        if debug:
            raise
        print(
            f"dlsynth {args.command}: internal error: {exc.__class__.__name__}: {_one_line(exc)} "
            "(set DLSYNTH_DEBUG=1 for a traceback, and please report it)",
            file=sys.stderr,
        )
        return 3


if __name__ == "__main__":
    sys.exit(main())
