"""Running a command from the shell: every `python -m ...` module and script ends with `run_cli(main)`.

Bad input (a missing, malformed or refused file, a flag that cannot work, a folder that cannot be written,
a full disk: ValueError, OSError, FloatingPointError, or SystemExit with a message) ends with the message
alone on stderr, `<command>: error: <message>` (messages name the file and the fix), and exit status 2.
`--debug` (a flag of every command, added by utils/config.build_parser) or the environment variable
A2P_DEBUG=1 shows the traceback instead. Ctrl-C ends with status 130 and no traceback. Any other exception
is a bug: its traceback is shown as usual (status 1). `main(argv)` may return an int: the exit status.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Callable, NoReturn, Sequence

CLEAR_ERRORS = (ValueError, OSError, FloatingPointError)
DEBUG_FLAG = "--debug"
DEBUG_VARIABLE = "A2P_DEBUG"


def debugging(argv: Sequence[str]) -> bool:
    """Whether to show tracebacks: --debug among the arguments, or A2P_DEBUG set (not empty, not 0)."""
    return DEBUG_FLAG in argv or os.environ.get(DEBUG_VARIABLE, "") not in ("", "0")


def command_name() -> str:
    """How the user ran this command: the module of `python -m` (e.g. sample.generate) or the script's name."""
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    return spec.name if spec is not None and spec.name != "__main__" else Path(sys.argv[0]).name


def run_cli(main: Callable[[list[str]], Any], argv: Sequence[str] | None = None) -> NoReturn:
    """Run main(argv) (default: the command line) and exit as the module docstring says."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        result = main(argv)
    except KeyboardInterrupt:
        print(f"{command_name()}: interrupted", file=sys.stderr)
        sys.exit(130)
    except SystemExit as stop:
        if not isinstance(stop.code, str):
            raise
        message = stop.code
    except CLEAR_ERRORS as error:
        if debugging(argv):
            raise
        message = str(error)
    else:
        sys.exit(result if isinstance(result, int) else 0)
    print(f"{command_name()}: error: {message}", file=sys.stderr)
    sys.exit(2)
