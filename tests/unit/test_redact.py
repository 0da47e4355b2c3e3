"""Secrets in URLs are masked wherever a URL is shown: user-info and the values of
secret query parameters, in a URL alone or inside a log line or an error text."""

from __future__ import annotations

import string

from hypothesis import given
from hypothesis import strategies as st

from airtrack.redact import MASK, SECRET_PARAMS, mask_credentials, redact_url

_SAFE = string.ascii_letters + string.digits + "-._~%"
secrets = st.text(alphabet=_SAFE, min_size=4, max_size=24).filter(lambda s: "***" not in s)
params = st.sampled_from(sorted(SECRET_PARAMS)).flatmap(
    lambda p: st.sampled_from([p, p.upper(), p.capitalize()])
)


def test_user_info_and_query_secrets_are_masked_in_a_text() -> None:
    text = (
        "stream failed: GET http://dj:hunter2@127.0.0.1:8000/live?token=abc&mount=a#x; "
        'backup "https://127.0.0.1/b?x=1&Pass=zz&key=k2" also failed'
    )
    assert mask_credentials(text) == (
        "stream failed: GET http://***@127.0.0.1:8000/live?token=***&mount=a#x; "
        'backup "https://127.0.0.1/b?x=1&Pass=***&key=***" also failed'
    )


def test_parameters_that_only_look_like_secrets_are_kept() -> None:
    url = "http://127.0.0.1/live?tokens=1&mykey=2&x=token=3"
    assert mask_credentials(url) == url
    assert mask_credentials("no url here: token=abc") == "no url here: token=abc"


def test_an_unparsable_url_is_shown_as_a_mask() -> None:
    assert redact_url("http://[::1/live?token=abc") == MASK
    assert redact_url(None) is None


@given(
    secret=secrets,
    param=params,
    before=st.sampled_from(["", "a=1&", "mount=live&b=&"]),
    after=st.sampled_from(["", "&z=9", "#frag"]),
)
def test_no_secret_value_survives(secret: str, param: str, before: str, after: str) -> None:
    url = f"http://127.0.0.1:8000/live?{before}{param}={secret}{after}"
    for shown in (redact_url(url), mask_credentials(f"error for {url} after 3 s")):
        assert shown is not None
        assert f"{param}={secret}" not in shown
        assert f"{param}={MASK}" in shown
        # what is not a secret is shown as it was
        assert before in shown and after in shown


@given(user=secrets, password=secrets)
def test_user_info_never_survives(user: str, password: str) -> None:
    shown = mask_credentials(f"GET http://{user}:{password}@127.0.0.1/live failed")
    assert f"{user}:{password}" not in shown
    assert f"http://{MASK}@127.0.0.1/live" in shown
