"""One configuration mechanism for every command: dataclasses turned into argparse.

A command declares what it takes as dataclasses whose fields are made with `arg(...)`:

    @dataclass
    class OptimConfig:
        lr: float = arg(1e-4, "peak learning rate of AdamW")
        betas: tuple[float, float] = arg((0.9, 0.99), "AdamW betas")

    optim, = parse_config([OptimConfig], description="...")

Every field becomes `--name`; the help text, default and type come from the field. bool fields become
`--name / --no-name`, `Optional[X]` fields accept `none`, `Literal[...]` fields become choices, and
tuple/list fields take several values. Two dataclasses may not declare the same field name. Every parser
also takes --debug (tracebacks instead of one-line errors, utils/cli.py).

Every number given on the command line is checked against its field's range: `arg(..., at_least=a,
at_most=b)`, by default [0, MAX_INT] for ints (counts, sizes, steps, seeds: no flag takes a negative
number) and [0, inf) for floats, which must also be finite (nan, inf refused); tuple and list items alike.
`check=function` runs on a given value (e.g. utils/device.device_name) and may refuse it with a ValueError.
A refused or malformed flag ends the command with one line, `<command>: error: argument --name: <why>`, and
exit status 2 (utils/cli.py), the usage text left to --help.
`save_args_json` / `load_args_json` write and read the merged fields as a flat `args.json`, the file the
original code writes next to every checkpoint.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import types
import typing
from pathlib import Path
from typing import Any, Literal, Mapping, Sequence

from utils.cli import DEBUG_FLAG, DEBUG_VARIABLE
from utils.files import atomic_write


MAX_INT = 2 ** 31 - 1


def arg(default: Any, help: str, **extra: Any) -> Any:
    """A dataclass field with a default and a help text (mutable defaults are copied per instance); extra
    metadata: aliases=("--other_name",) adds option strings for the same flag (e.g. the original's names);
    at_least=, at_most= the range of a number, check= a function of the value that raises ValueError to refuse
    it (module docstring)."""
    if isinstance(default, (list, dict, set)):
        return dataclasses.field(default_factory=lambda: type(default)(default), metadata={"help": help, **extra})
    return dataclasses.field(default=default, metadata={"help": help, **extra})


def _unwrap_optional(tp: Any) -> tuple[Any, bool]:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(members) == 1 and len(typing.get_args(tp)) == 2:
            return members[0], True
    return tp, False


def _scalar_parser(tp: Any, optional: bool, metadata: Mapping[str, Any]):
    """The argparse type of a field: text -> value of type `tp`, checked against the field's range and check
    (module docstring); argparse reports a refusal as `argument --name: <why>`."""
    numeric = tp in (int, float)
    low = metadata.get("at_least", 0 if numeric else None)
    high = metadata.get("at_most", MAX_INT if tp is int else None)

    def convert(text: str):
        if optional and text.lower() in ("none", "null", ""):
            return None
        value = tp(text)
        if tp is float and not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"{text} is not a finite number")
        if low is not None and value < low:
            raise argparse.ArgumentTypeError(f"{text} is below the smallest allowed value, {low}")
        if high is not None and value > high:
            raise argparse.ArgumentTypeError(f"{text} is above the largest allowed value, {high}")
        if "check" in metadata:
            try:
                return metadata["check"](value)
            except ValueError as error:
                raise argparse.ArgumentTypeError(str(error)) from error
        return value
    convert.__name__ = getattr(tp, "__name__", "value")
    return convert


def _add_field(parser: argparse.ArgumentParser, field: dataclasses.Field, tp: Any) -> None:
    names = ("--" + field.name, *field.metadata.get("aliases", ()))
    default = field.default if field.default is not dataclasses.MISSING else field.default_factory()
    help_text = field.metadata.get("help", "")
    tp, optional = _unwrap_optional(tp)
    origin = typing.get_origin(tp)
    if tp is bool:
        parser.add_argument(*names, dest=field.name, action=argparse.BooleanOptionalAction, default=default,
                            help=f"{help_text} (default: {default})")
    elif origin is Literal:
        choices = list(typing.get_args(tp))
        parser.add_argument(*names, dest=field.name, type=type(choices[0]), choices=choices, default=default,
                            help=f"{help_text} (default: {default})")
    elif origin in (list, tuple):
        item_args = [a for a in typing.get_args(tp) if a is not Ellipsis]
        item = item_args[0] if item_args else str
        nargs = "*" if origin is list or Ellipsis in typing.get_args(tp) else len(item_args)
        parser.add_argument(*names, dest=field.name, type=_scalar_parser(item, False, field.metadata), nargs=nargs,
                            default=default,
                            help=f"{help_text} (default: {' '.join(map(str, default or []))})")
    else:
        parser.add_argument(*names, dest=field.name, type=_scalar_parser(tp, optional, field.metadata),
                            default=default, help=f"{help_text} (default: {default})")


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line: SystemExit(message), which utils/cli.run_cli prints as
    `<command>: error: <message>` with exit status 2."""

    def error(self, message: str):
        raise SystemExit(f"{message} (see --help)")


def build_parser(config_types: Sequence[type], description: str = "") -> argparse.ArgumentParser:
    """An argparse parser with one argument group per dataclass, one flag per field, and --debug (read by
    utils/cli.run_cli)."""
    parser = OneLineParser(description=description)
    parser.add_argument(DEBUG_FLAG, action="store_true", help=f"on an error, show the traceback instead of one "
                                                              f"line (also: {DEBUG_VARIABLE}=1)")
    seen: dict[str, str] = {}
    for config_type in config_types:
        group = parser.add_argument_group(config_type.__name__, (config_type.__doc__ or "").strip().split("\n")[0])
        hints = typing.get_type_hints(config_type)
        for field in dataclasses.fields(config_type):
            if field.name in seen:
                raise TypeError(f"field {field.name!r} is declared by both {seen[field.name]} and {config_type.__name__}")
            seen[field.name] = config_type.__name__
            _add_field(group, field, hints[field.name])
    return parser


def _instantiate(config_type: type, values: dict[str, Any]) -> Any:
    hints = typing.get_type_hints(config_type)
    kwargs = {}
    for field in dataclasses.fields(config_type):
        if field.name not in values:
            continue
        value = values[field.name]
        if typing.get_origin(_unwrap_optional(hints[field.name])[0]) is tuple and value is not None:
            value = tuple(value)
        kwargs[field.name] = value
    return config_type(**kwargs)


def parse_config(config_types: Sequence[type], argv: Sequence[str] | None = None, description: str = "",
                 defaults: dict[str, Any] | None = None) -> tuple:
    """Parse `argv` (default: sys.argv[1:]) into one instance of each dataclass, in order.

    `defaults` overrides field defaults (e.g. values read from a checkpoint's args.json) while flags given
    on the command line still win.
    """
    parser = build_parser(config_types, description)
    if defaults:
        known = {a.dest for a in parser._actions}
        parser.set_defaults(**{k: v for k, v in defaults.items() if k in known})
    namespace = vars(parser.parse_args(argv))
    return tuple(_instantiate(t, namespace) for t in config_types)


def merged_dict(*configs: Any) -> dict[str, Any]:
    """The fields of several dataclass instances (or plain dicts of more keys) as one flat dict (the layout of
    args.json)."""
    merged: dict[str, Any] = {}
    for config in configs:
        merged.update(config if isinstance(config, Mapping) else dataclasses.asdict(config))
    return merged


def save_args_json(path: str | os.PathLike, *configs: Any) -> None:
    """Write the merged fields, sorted and indented like the original's args.json, atomically."""
    with atomic_write(path) as tmp:
        tmp.write_text(json.dumps(merged_dict(*configs), indent=4, sort_keys=True, default=str))


def load_args_json(path: str | os.PathLike) -> dict[str, Any]:
    """The flat dict stored by `save_args_json`; a clear error names the missing file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: args.json not found; it is written by the trainer next to its "
                                f"checkpoints — pass the checkpoint inside a training --save_dir")
    return json.loads(path.read_text())


def from_dict(config_type: type, values: dict[str, Any]) -> Any:
    """An instance of `config_type` from a flat dict, ignoring keys that belong to other dataclasses."""
    return _instantiate(config_type, values)
