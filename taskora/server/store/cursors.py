"""Opaque page cursors: the sort key, the last row's sort value and id, signed.

The signature makes an altered cursor an error instead of a silently different page. The
key is stored in the database, so every replica accepts the cursors of the others.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from datetime import datetime
from typing import Any

_SIGNATURE_BYTES = 12


class InvalidCursor(Exception):
    """A ``cursor`` query value that this server did not issue for this sort."""


class CursorCodec:
    """Encodes and checks cursors with one HMAC key."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def _sign(self, payload: bytes) -> bytes:
        return hmac.new(self._key, payload, hashlib.sha256).digest()[:_SIGNATURE_BYTES]

    def encode(self, sort_key: str, filters: str, value: Any, task_id: int) -> str:
        """Encode the position after the row (``value``, ``task_id``) of a listing.

        ``filters`` identifies the listing's filters, so the cursor only continues it.
        """
        payload = json.dumps(
            {"s": sort_key, "f": filters, "v": value, "i": task_id}, separators=(",", ":")
        ).encode()
        return base64.urlsafe_b64encode(self._sign(payload) + payload).decode().rstrip("=")

    def decode(self, cursor: str, sort_key: str, filters: str) -> tuple[Any, int]:
        """Return the (sort value, id) after which the next page starts."""
        not_issued = InvalidCursor("cursor is not one this server issued")
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        except (ValueError, binascii.Error):
            raise not_issued from None
        signature, payload = raw[:_SIGNATURE_BYTES], raw[_SIGNATURE_BYTES:]
        if not hmac.compare_digest(signature, self._sign(payload)):
            raise not_issued

        data = json.loads(payload)
        if data["s"] != sort_key:
            raise InvalidCursor(
                f"cursor was issued for sort {data['s']!r}, not {sort_key!r}: "
                "repeat the first request's sort or drop the cursor"
            )
        if data["f"] != filters:
            raise InvalidCursor(
                "cursor was issued for other filters: repeat the first request's filters "
                "or drop the cursor"
            )
        value = data["v"]
        if sort_key in {"created_at", "updated_at"} or (sort_key == "due_at" and value is not None):
            value = datetime.fromisoformat(value)
        return value, data["i"]
