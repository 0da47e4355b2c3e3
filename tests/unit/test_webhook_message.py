"""Webhook messages verify with the Standard Webhooks library, for any event data."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from airtrack.orchestrator.webhooks import message, new_secret

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


@given(
    event_id=st.from_regex(r"evt_[0-9a-f]{32}", fullmatch=True),
    type_=st.sampled_from(["play.started", "stream.down", "catalog.changed"]),
    data=JSON,
    at=st.datetimes(timezones=st.just(UTC)),
)
def test_every_message_verifies_and_carries_the_event(
    event_id: str, type_: str, data: Any, at: datetime
) -> None:
    secret = new_secret()
    body, headers = message(event_id, type_, at, data, secret)
    payload = Webhook(secret).verify(body, headers)
    assert payload == {"type": type_, "timestamp": at.isoformat(), "data": data}
    assert headers["webhook-id"] == event_id


def test_another_secret_or_a_changed_body_does_not_verify() -> None:
    secret = new_secret()
    body, headers = message("evt_1", "stream.up", datetime.now(UTC), {"a": 1}, secret)
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body.replace(b"1", b"2"), headers)
