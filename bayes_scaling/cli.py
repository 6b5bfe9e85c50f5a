"""``bayes-scaling``: a thin command line over the Python API.

Exit codes (:data:`~bayes_scaling.cli_parser.EXIT_CODES`): 0 success, 1 some fits of
``calibrate``/``sweep`` failed, 2 bad input (data, spec, file, option), 3 ``--strict`` and not
converged, 130 interrupted. The parser is :mod:`bayes_scaling.cli_parser`, the commands
:mod:`bayes_scaling.cli_commands`; this module runs them, turning errors into exit codes.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import warnings
from collections.abc import Sequence

from bayes_scaling.atomic import discard_pending
from bayes_scaling.cli_commands import EXIT_BAD_INPUT, EXIT_INTERRUPTED, _log_to_stderr
from bayes_scaling.cli_parser import build_parser
from bayes_scaling.errors import DataError, FitFileError, SpecError


def _shell_warning(message, category, filename, lineno, line=None) -> str:
    return f"warning: {message}\n"


def main(argv: Sequence[str] | None = None) -> int:
    shown = warnings.formatwarning
    warnings.formatwarning = _shell_warning  # a shell user needs the message, not our source
    try:
        return _run(argv)
    finally:
        warnings.formatwarning = shown


def _run(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    if args.verbose:
        _log_to_stderr("bayes_scaling")
    try:
        return args.func(args)
    except (DataError, SpecError, FitFileError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except BrokenPipeError:  # `bayes-scaling ... | head`: the reader left; stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def _exit_on_interrupt() -> None:
    """Make Ctrl-C end the command within moments, whatever the main thread is doing.

    Numba compilation and nutpie's Rust sampler hold the main thread in native code, where
    Python never sees SIGINT. So SIGINT is blocked in every thread (threads started later
    inherit the mask) and one small thread waits for it; it removes files half-written by
    :mod:`bayes_scaling.atomic` and exits with status 130. Finished output files are complete,
    and a fit is written only after sampling, so nothing partial is left behind.
    """
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})

    def wait() -> None:
        signal.sigwait({signal.SIGINT})
        discard_pending()
        os.write(2, b"interrupted\n")
        os._exit(EXIT_INTERRUPTED)

    threading.Thread(target=wait, name="bayes-scaling-interrupt", daemon=True).start()


def console() -> None:
    """The ``bayes-scaling`` executable: :func:`main` with a Ctrl-C that always works."""
    _exit_on_interrupt()
    sys.exit(main())


if __name__ == "__main__":
    console()
