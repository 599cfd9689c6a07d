"""Alertmanager webhook payload (version 4): parsing and validation.

Pure: bytes in, typed values or a `PayloadError` out. Alertmanager's Go
timestamps carry up to nanoseconds, which `datetime` cannot hold, so they are
truncated to microseconds here rather than rejected. Strings are cleaned
(`bot.core.untrusted_text`) so that whatever was accepted can also be stored.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from bot.core.untrusted_text import TooDeep, clean_tree, may_need_cleaning, storable_key

# Go's zero time: Alertmanager sends it for "no end known yet".
_GO_ZERO_YEAR = 1
_RFC3339 = re.compile(
    r"^(?P<date>\d{4}-\d{2}-\d{2})[Tt](?P<time>\d{2}:\d{2}:\d{2})"
    r"(?:\.(?P<frac>\d+))?(?P<tz>[Zz]|[+-]\d{2}:\d{2})$"
)


class PayloadError(ValueError):
    """The body is not a usable Alertmanager v4 notification; the message says why."""


class AlertStatus(StrEnum):
    FIRING = "firing"
    RESOLVED = "resolved"


def parse_timestamp(value: str) -> datetime | None:
    """RFC 3339 with any number of fractional digits; Go's zero time means unset."""
    # A group's notifications repeat its alerts' times (and Go's zero time for every firing
    # alert's end), so most are known already. Only a timestamp of usual length is kept:
    # "any number of fractional digits" must not let a sender fill the cache.
    if len(value) <= _CACHED_LENGTH:
        return _parse_timestamp_cached(value)
    return _parse_timestamp(value)


_CACHED_LENGTH = 40  # 2026-11-26T10:19:54.461773567+00:00 is 35


@functools.lru_cache(maxsize=4096)  # at most some 600 KB
def _parse_timestamp_cached(value: str) -> datetime | None:
    return _parse_timestamp(value)


def _parse_timestamp(value: str) -> datetime | None:
    match = _RFC3339.match(value)
    if match is None:
        raise ValueError(f"not an RFC 3339 timestamp: {value!r}")
    frac = (match["frac"] or "")[:6].ljust(6, "0")
    tz = "+00:00" if match["tz"] in ("Z", "z") else match["tz"]
    parsed = datetime.fromisoformat(f"{match['date']}T{match['time']}.{frac}{tz}")
    if parsed.year == _GO_ZERO_YEAR:
        return None
    try:
        return parsed.astimezone(UTC)
    except OverflowError:  # 9999-12-31T23:59:59-12:00 lies past datetime.max in UTC
        raise ValueError(f"timestamp out of range: {value!r}") from None


def format_timestamp(value: datetime) -> str:
    """ISO 8601 in UTC with a `Z`, the one form the bot writes everywhere."""
    text = value.astimezone(UTC).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


class Alert(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    status: AlertStatus
    labels: dict[str, str]
    annotations: dict[str, str] = Field(default_factory=dict)
    starts_at: datetime = Field(alias="startsAt")
    ends_at: datetime | None = Field(default=None, alias="endsAt")
    generator_url: str = Field(default="", alias="generatorURL")
    fingerprint: str = Field(min_length=1)

    @field_validator("fingerprint")
    @classmethod
    def _fingerprint(cls, value: str) -> str:
        return storable_key(value)  # part of unique, indexed keys: bounded length

    @field_validator("starts_at", mode="before")
    @classmethod
    def _starts(cls, value: Any) -> datetime:
        parsed = parse_timestamp(value) if isinstance(value, str) else value
        if not isinstance(parsed, datetime):
            raise ValueError("startsAt must be a timestamp and not Go's zero time")
        return parsed

    @field_validator("ends_at", mode="before")
    @classmethod
    def _ends(cls, value: Any) -> datetime | None:
        return parse_timestamp(value) if isinstance(value, str) else value

    @property
    def name(self) -> str:
        return self.labels.get("alertname", "unnamed alert")


class Notification(BaseModel):
    """One webhook delivery: the whole alert group as Alertmanager sees it now."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    version: str
    group_key: str = Field(alias="groupKey", min_length=1)
    status: AlertStatus
    receiver: str = ""
    alerts: tuple[Alert, ...]
    group_labels: dict[str, str] = Field(default_factory=dict, alias="groupLabels")
    common_labels: dict[str, str] = Field(default_factory=dict, alias="commonLabels")
    common_annotations: dict[str, str] = Field(default_factory=dict, alias="commonAnnotations")
    external_url: str = Field(default="", alias="externalURL")
    truncated_alerts: int = Field(default=0, alias="truncatedAlerts", ge=0, le=2**31)

    @field_validator("alerts")
    @classmethod
    def _one_per_fingerprint(cls, value: tuple[Alert, ...]) -> tuple[Alert, ...]:
        # Alertmanager never repeats a fingerprint in a group; if a sender does, the last
        # occurrence is the alert's state (one row per fingerprint is what the store keeps).
        return tuple({a.fingerprint: a for a in value}.values())

    @field_validator("version")
    @classmethod
    def _version(cls, value: str) -> str:
        if value != "4":
            raise ValueError(f"only webhook payload version 4 is supported, got {value!r}")
        return value

    @property
    def firing(self) -> tuple[Alert, ...]:
        return tuple(a for a in self.alerts if a.status is AlertStatus.FIRING)

    def label(self, name: str) -> str | None:
        """A label shared by the group, else by its first alert."""
        if name in self.common_labels:
            return self.common_labels[name]
        for alert in self.alerts:
            if name in alert.labels:
                return alert.labels[name]
        return None


def decode_body(body: bytes) -> str:
    """The body as text: UTF-8 (RFC 8259), an optional byte order mark dropped."""
    try:
        return body.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as e:
        raise PayloadError(f"body is not JSON in UTF-8: {e.reason} at byte {e.start}") from e


def parse_notification(body: bytes | str) -> Notification:
    """The notification, with unstorable characters cleaned and the group key storable."""
    text = decode_body(body) if isinstance(body, bytes) else body
    if not may_need_cleaning(text):
        notification = _parse_in_one_pass(text)
        if notification is not None:
            return notification
    try:
        data = json.loads(text)
    except RecursionError:
        raise PayloadError("body is not JSON: nested too deeply") from None
    except ValueError as e:  # JSONDecodeError, and integers over Python's 4,300 digits
        raise PayloadError(f"body is not JSON: {e}") from e
    if not isinstance(data, dict):
        raise PayloadError("body must be a JSON object")
    raw_key = data.get("groupKey")
    if may_need_cleaning(text):
        try:
            data = clean_tree(data)
        except TooDeep as e:
            raise PayloadError(str(e)) from e
    if isinstance(raw_key, str) and raw_key:
        data["groupKey"] = storable_key(raw_key)  # an identity: escaped, never altered
    try:
        return Notification.model_validate(data)
    except ValidationError as e:
        raise PayloadError(_describe(e)) from e


def _parse_in_one_pass(text: str) -> Notification | None:
    """The notification, parsed and validated by pydantic in one pass (about half the time
    of `json.loads` and then validating its objects; webhooks come by the thousand a second
    in a storm), or None when refused: the full parse then says why, in the same words
    whichever way a refusal was found. Only for text with nothing to clean."""
    try:
        notification = Notification.model_validate_json(text)
    except ValidationError:
        return None
    key = storable_key(notification.group_key)
    if key == notification.group_key:
        return notification
    return notification.model_copy(update={"group_key": key})


def _describe(error: ValidationError) -> str:
    parts = []
    for item in error.errors()[:5]:
        where = ".".join(str(p) for p in item["loc"]) or "body"
        parts.append(f"{where}: {item['msg']}")
    return "; ".join(parts)


@dataclass(frozen=True)
class KnownAlert:
    """What the store remembers of one alert of an incident's group."""

    fingerprint: str
    status: AlertStatus
    starts_at: datetime
