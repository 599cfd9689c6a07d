"""Which images of a pinned message the bot fetches and keeps. Pure.

The graph screenshot someone pinned is the incident's evidence, but Slack's file
links need the bot's token and die with the workspace's retention. The bot keeps a
copy, bounded: raster images only (PNG, JPEG, GIF, WebP: an SVG can carry script),
at most `MAX_IMAGES` per message and `MAX_BYTES` each. The bot's token is sent only
to Slack's file host (`files.slack.com`) or the host of `SLACK_API_URL` (GovSlack, a
proxy, the tests' fake): never to a URL an event names elsewhere.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
MAX_IMAGES = 4
MAX_BYTES = 5 * 1024 * 1024
SLACK_FILE_HOSTS = frozenset({"files.slack.com"})


@dataclass(frozen=True)
class ImageFile:
    file_id: str
    url: str
    mimetype: str
    name: str


def token_may_go_to(url: str, api_url: str) -> bool:
    """Whether the bot's token may be sent to `url` (https to Slack, or SLACK_API_URL's host)."""
    try:
        target, api = urlsplit(url), urlsplit(api_url)
    except ValueError:
        return False
    if target.scheme not in ("https", "http") or not target.hostname:
        return False
    if target.hostname in SLACK_FILE_HOSTS:
        return target.scheme == "https"
    return target.hostname == api.hostname and target.port == api.port


def images_to_keep(files: Iterable[Mapping[str, Any]], api_url: str) -> list[ImageFile]:
    """The message's files the bot fetches: raster images, small enough, from Slack."""
    kept: list[ImageFile] = []
    for item in files:
        url = item.get("url_private_download") or item.get("url_private")
        mimetype = str(item.get("mimetype") or "").lower()
        size = item.get("size")
        if not isinstance(url, str) or mimetype not in IMAGE_TYPES:
            continue
        if isinstance(size, int) and size > MAX_BYTES:
            continue
        if not token_may_go_to(url, api_url):
            continue
        kept.append(ImageFile(str(item.get("id") or ""), url, mimetype, str(item.get("name", ""))))
        if len(kept) == MAX_IMAGES:
            break
    return kept


def sniffed_type(data: bytes) -> str | None:
    """The image type the bytes really are (their magic number), or None: what Slack
    says is checked, so nothing but an image is ever served as one."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None
