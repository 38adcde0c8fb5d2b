"""django-q2 tasks of notifications: ids in, one service call."""

from __future__ import annotations

from notifications.delivery import delivery_attempt


def deliver(delivery_id: int) -> str:
    return delivery_attempt(delivery_id=delivery_id)
