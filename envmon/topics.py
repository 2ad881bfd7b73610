"""The MQTT topic scheme shared by devices, ingest and the broker ACL.

    envmon/v1/<device>/up       readings published by the device (JSON)
    envmon/v1/<device>/status   online/offline, retained; the device's last will
    envmon/v1/<device>/cmd      commands to the device (resend requests)

The device segment is the device's MN code, which is also its MQTT username, so one ACL
pattern (`%u`) confines every device to its own topics.
"""

from __future__ import annotations

import re

PREFIX = "envmon/v1"
UP = "up"
STATUS = "status"
CMD = "cmd"
# An MN code is up to 24 characters; letters, digits, '-' and '_' are allowed here.
_DEVICE_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def is_valid_device_code(device: str) -> bool:
    """True when `device` can stand as a topic segment and MQTT username."""
    return bool(_DEVICE_RE.match(device))


def device_topic(device: str, channel: str) -> str:
    """The topic of one device's channel (`up`, `status` or `cmd`)."""
    if not is_valid_device_code(device):
        raise ValueError(f"not a valid device code for a topic: {device!r}")
    return f"{PREFIX}/{device}/{channel}"


def device_of_topic(topic: str) -> str | None:
    """The device code in a device topic, or None when the topic is not one of ours."""
    parts = topic.split("/")
    if len(parts) != 4 or f"{parts[0]}/{parts[1]}" != PREFIX or parts[3] not in (UP, STATUS, CMD):
        return None
    return parts[2] if is_valid_device_code(parts[2]) else None


def subscription(channel: str) -> str:
    """The wildcard subscription to one channel of every device."""
    return f"{PREFIX}/+/{channel}"
