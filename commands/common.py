"""What every slash command shares: splitting the text, and the usage error."""

from __future__ import annotations

import shlex


class UsageError(ValueError):
    """Bad arguments to any slash command. `str(error)` is what to tell the user: the reason
    (when one helps), then `usage`, the line to type instead."""

    def __init__(self, usage: str, reason: str | None = None) -> None:
        self.usage = usage
        self.reason = reason
        super().__init__(f"{reason}. {usage}" if reason else usage)


def split_args(text: str, usage: str) -> list[str]:
    try:
        return shlex.split(text.strip())
    except ValueError as e:  # an unclosed quote
        raise UsageError(usage, str(e)) from e


def take_option(args: list[str], *names: str, usage: str) -> str | None:
    """Remove `-n value` / `--namespace=value` from args; return the value."""
    for i, arg in enumerate(args):
        for name in names:
            if arg == name:
                if i + 1 >= len(args) or args[i + 1].startswith("-"):
                    raise UsageError(usage, f"{name} needs a value")
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
