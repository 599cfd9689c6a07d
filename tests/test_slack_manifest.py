"""slack-app-manifest.yaml asks for exactly the Slack scopes the code uses.

The source of bot/, commands/ and integrations/ (not the stand-ins) is read as an AST for
every Slack Web API method it calls: a method-name literal passed to `call(...)` /
`api_call(...)`, a slack-sdk client method (`client.files_upload_v2(...)`, resolved to the
Web API methods slack-sdk's own source calls), or Bolt's `say(...)`. Each must have a
scope entry in `bot.cli.check.checks.REQUIRED_BOT_SCOPES`, each scope it needs must be in the
manifest, and each manifest scope must be needed by a method found, by a subscribed
event, or be `commands`. `bot.cli.check.checks.BOT_SCOPES` (what `incident-bot check` asks the
token for) must equal the manifest's list.
"""

from __future__ import annotations

import ast
import inspect
import re
from collections import defaultdict
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from slack_sdk.web.async_client import AsyncWebClient

from bot.cli.check.checks import (
    BOT_SCOPES,
    COMMANDS_SCOPE,
    REQUIRED_BOT_SCOPES,
    REQUIRED_EVENT_SCOPES,
)

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = ROOT / "slack-app-manifest.yaml"
SOURCE_DIRS = ("bot", "commands", "integrations")
EVENTS_URL = "https://incident-bot.example.com/slack/events"
_METHOD = re.compile(r"[a-z]+(\.[a-zA-Z]+)+")
_CALLERS = frozenset({"call", "api_call"})

Where = str  # "bot/x.py:12"


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    data = yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def manifest_scopes(manifest: dict[str, Any]) -> list[str]:
    return list(manifest["oauth_config"]["scopes"]["bot"])


# -- what slack-sdk's client methods call ----------------------------------------------


@cache
def sdk_methods() -> dict[str, frozenset[str]]:
    """AsyncWebClient method name -> the Web API methods it calls, from slack-sdk's source."""
    tree = ast.parse(inspect.getsource(inspect.getmodule(AsyncWebClient)))  # type: ignore[arg-type]
    direct: dict[str, set[str]] = defaultdict(set)
    calls: dict[str, set[str]] = defaultdict(set)
    for node in ast.walk(tree):
        if not (isinstance(node, ast.ClassDef) and node.name == "AsyncWebClient"):
            continue
        for fn in node.body:
            if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for call in ast.walk(fn):
                if not isinstance(call, ast.Call) or not isinstance(call.func, ast.Attribute):
                    continue
                if not (isinstance(call.func.value, ast.Name) and call.func.value.id == "self"):
                    continue
                if call.func.attr == "api_call" and call.args:
                    arg = call.args[0]
                    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                        direct[fn.name].add(arg.value)
                else:
                    calls[fn.name].add(call.func.attr)

    def resolve(name: str, seen: frozenset[str]) -> set[str]:
        found = set(direct.get(name, ()))
        for other in calls.get(name, ()):
            if other not in seen:
                found |= resolve(other, seen | {other})
        return found

    names = set(direct) | set(calls)
    table = {name: frozenset(resolve(name, frozenset({name}))) for name in names}
    return {name: methods for name, methods in table.items() if methods}


def test_sdk_resolution_knows_the_v2_upload() -> None:
    assert sdk_methods()["files_upload_v2"] == {
        "files.getUploadURLExternal",
        "files.completeUploadExternal",
    }
    assert sdk_methods()["chat_postMessage"] == {"chat.postMessage"}


# -- what the code calls -------------------------------------------------------------------


def source_files() -> Iterator[Path]:
    for folder in SOURCE_DIRS:
        yield from sorted((ROOT / folder).rglob("*.py"))


def methods_called_in(tree: ast.AST, filename: str) -> Iterator[tuple[str, Where]]:
    sdk = sdk_methods()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        where = f"{filename}:{node.lineno}"
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
        if name in _CALLERS and node.args:
            arg = node.args[0]
            literal = arg.value if isinstance(arg, ast.Constant) else None
            if isinstance(literal, str) and _METHOD.fullmatch(literal):
                yield literal, where
        elif isinstance(func, ast.Attribute) and name in sdk:
            for method in sorted(sdk[name]):
                yield method, where
        elif isinstance(func, ast.Name) and name == "say":  # Bolt's say() posts a message
            yield "chat.postMessage", where
        elif isinstance(func, ast.Attribute) and name == "download":  # a file's url_private
            yield "files.download", where


def methods_called() -> dict[str, list[Where]]:
    found: dict[str, list[Where]] = defaultdict(list)
    for path in source_files():
        relative = path.relative_to(ROOT).as_posix()
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=relative)
        for method, where in methods_called_in(tree, relative):
            found[method].append(where)
    return dict(found)


def test_the_scan_finds_calls_in_every_form() -> None:
    code = """
async def f(chat, client, say):
    await chat.call("conversations.create", name="x")
    await client.api_call("pins.add", json={})
    await client.files_upload_v2(channel="C1", content=b"x")
    await say("hi")
    subprocess.call("ls")
    await chat.call(method)
"""
    found = {m for m, _ in methods_called_in(ast.parse(code), "x.py")}
    assert found == {
        "conversations.create",
        "pins.add",
        "files.getUploadURLExternal",
        "files.completeUploadExternal",
        "chat.postMessage",
    }


def test_the_scan_sees_what_the_bot_is_known_to_call() -> None:
    found = methods_called()
    for method in ("conversations.create", "chat.postMessage", "pins.add", "auth.test"):
        assert method in found, f"the scan no longer finds {method}: is the scanner broken?"


# -- the manifest against the code ---------------------------------------------------------


def test_every_method_called_has_a_scope_entry() -> None:
    unknown = {m: w for m, w in methods_called().items() if m not in REQUIRED_BOT_SCOPES}
    assert not unknown, "\n".join(
        f"Slack method {m} (called at {', '.join(w)}) is not in REQUIRED_BOT_SCOPES in "
        f'bot/slack/scopes.py: add  "{m}": ("<scope>",),  (the scope is on '
        f"https://docs.slack.dev/reference/methods/{m}; () when it needs none)"
        for m, w in sorted(unknown.items())
    )


def test_every_scope_the_code_needs_is_in_the_manifest(manifest: dict[str, Any]) -> None:
    granted = set(manifest_scopes(manifest))
    lacking = []
    for method, where in sorted(methods_called().items()):
        for scope in REQUIRED_BOT_SCOPES.get(method, ()):
            if scope not in granted:
                lacking.append(
                    f"Slack method {method} (called at {', '.join(where)}) needs scope {scope}: "
                    f"add  - {scope}  under oauth_config.scopes.bot in slack-app-manifest.yaml "
                    f"and {scope!r} to BOT_SCOPES in bot/slack/scopes.py"
                )
    for event in manifest["settings"]["event_subscriptions"]["bot_events"]:
        event_scope = REQUIRED_EVENT_SCOPES.get(event)
        if event_scope is None:
            lacking.append(f"event {event} is not in REQUIRED_EVENT_SCOPES in bot/slack/scopes.py")
        elif event_scope not in granted:
            lacking.append(f"event {event} needs scope {event_scope}: add it to the manifest")
    assert not lacking, "\n".join(lacking)


def test_every_manifest_scope_is_used(manifest: dict[str, Any]) -> None:
    used: dict[str, str] = {COMMANDS_SCOPE: "slash commands and shortcuts"}
    for method in methods_called():
        for scope in REQUIRED_BOT_SCOPES.get(method, ()):
            used.setdefault(scope, method)
    for event in manifest["settings"]["event_subscriptions"]["bot_events"]:
        used.setdefault(REQUIRED_EVENT_SCOPES.get(event, ""), event)
    unused = [s for s in manifest_scopes(manifest) if s not in used]
    assert not unused, (
        f"slack-app-manifest.yaml asks for {', '.join(unused)}, which no Slack method the code "
        "calls and no subscribed event needs: remove it there and from BOT_SCOPES in "
        "bot/slack/scopes.py"
    )


def test_check_asks_the_token_for_exactly_the_manifest_scopes(manifest: dict[str, Any]) -> None:
    scopes = manifest_scopes(manifest)
    assert len(scopes) == len(set(scopes)), "a scope is listed twice in the manifest"
    assert sorted(BOT_SCOPES) == sorted(scopes), (
        f"BOT_SCOPES in bot/slack/scopes.py {sorted(BOT_SCOPES)} != the manifest's {sorted(scopes)}"
    )


# -- the rest of the manifest --------------------------------------------------------------


def test_manifest_shape(manifest: dict[str, Any]) -> None:
    assert manifest["_metadata"]["major_version"] == 1
    info = manifest["display_information"]
    assert len(info["description"]) <= 140
    assert 174 <= len(info["long_description"]) <= 4000
    features = manifest["features"]
    assert features["bot_user"]["display_name"]
    commands = {c["command"]: c for c in features["slash_commands"]}
    assert set(commands) == {"/incident", "/status", "/rollback"}
    for command in commands.values():
        assert command["url"] == EVENTS_URL
        assert command["should_escape"] is True  # mentions arrive as <@U...>
        assert command["usage_hint"]
        assert command["description"]
    assert features["shortcuts"] == [
        {
            "name": "Declare incident",
            "type": "message",
            "callback_id": "declare_incident",
            "description": features["shortcuts"][0]["description"],
        }
    ]
    settings = manifest["settings"]
    events = settings["event_subscriptions"]
    assert events["request_url"] == EVENTS_URL
    assert set(events["bot_events"]) == {
        "pin_added",
        "pin_removed",
        "reaction_added",
        "reaction_removed",
        "message.channels",
        "message.groups",
    }
    assert settings["interactivity"] == {"is_enabled": True, "request_url": EVENTS_URL}
    assert settings["org_deploy_enabled"] is False
    assert settings["socket_mode_enabled"] is False
    assert "SLACK_APP_TOKEN" in MANIFEST.read_text(encoding="utf-8")
