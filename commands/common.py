"""What every slash command shares: splitting the text, and the usage error."""

from __future__ import annotations

import shlex


class UsageError(ValueError):
    """Bad arguments; the message says what to type instead."""


def split_args(text: str, usage: str) -> list[str]:
    try:
        return shlex.split(text.strip())
    except ValueError as e:  # an unclosed quote
        raise UsageError(f"{e}. {usage}") from e


def take_option(args: list[str], *names: str, usage: str) -> str | None:
    """Remove `-n value` / `--namespace=value` from args; return the value."""
    for i, arg in enumerate(args):
        for name in names:
            if arg == name:
                if i + 1 >= len(args) or args[i + 1].startswith("-"):
                    raise UsageError(f"{name} needs a value. {usage}")
                value = args[i + 1]
                del args[i : i + 2]
                return value
            if arg.startswith(name + "="):
                del args[i]
                return arg.split("=", 1)[1]
    return None


def take_flag(args: list[str], name: str) -> bool:
    if name in args:
        args.remove(name)
        return True
    return False
