"""The keep-running link with hostile tokens: cut, changed, lengthened, signed
with another salt, or signed correctly around payloads Parkway never makes.
Never a server error, and nothing changes unless the token is the real one."""

from __future__ import annotations

import datetime as dt
import secrets
from urllib.parse import quote

import pytest
from django.core import signing
from django.test import Client
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st

from notifications import warnings
from notifications.models import StopWarning
from scheduling.models import Override
from tests.conftest import ACME_ACCOUNT
from tests.fuzz.hostile import HOSTILE, TEXT, fuzz_settings
from tests.selfservice.conftest import make_account, make_resources

pytestmark = pytest.mark.django_db

JSONISH = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2**80), max_value=2**80), st.floats(allow_nan=False), TEXT),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(["n", "e", "x"]), inner, max_size=3)),
    max_leaves=6,
)


def mutated(token: str) -> st.SearchStrategy[str]:
    """The real token with one edit: a character replaced, inserted or dropped, or cut short."""
    position = st.integers(min_value=0, max_value=len(token) - 1)
    char = st.sampled_from("AZaz09-_:.=/%\x00ü")
    return st.one_of(
        st.tuples(position, char).map(lambda pc: token[: pc[0]] + pc[1] + token[pc[0] + 1 :]),
        st.tuples(position, char).map(lambda pc: token[: pc[0]] + pc[1] + token[pc[0] :]),
        position.map(lambda p: token[:p] + token[p + 1 :]),
        position.map(lambda p: token[:p]),
    ).filter(lambda t: t != token)


def hostile_tokens(token: str, nonce: str) -> st.SearchStrategy[str]:
    ours = JSONISH.map(lambda payload: signing.dumps(payload, salt=warnings.SALT))
    wrong_types = st.fixed_dictionaries({"n": st.one_of(TEXT, st.just(nonce)), "e": JSONISH}).map(
        lambda payload: signing.dumps(payload, salt=warnings.SALT)
    )
    huge_expiry = st.integers(min_value=-(2**70), max_value=2**70).map(
        lambda e: signing.dumps({"n": "f" * 32, "e": e}, salt=warnings.SALT)
    )
    other_salt = st.just(signing.dumps({"n": nonce, "e": 2**31}, salt="parkway.invitations"))
    return st.one_of(mutated(token), HOSTILE, ours, wrong_types, huge_expiry, other_salt)


def test_the_keep_running_link_survives_hostile_tokens(acme):
    (machine,) = make_resources(make_account(acme, ACME_ACCOUNT), 1)
    warning = StopWarning.objects.create(
        tenant=acme, resource=machine, stop_at=timezone.now() + dt.timedelta(minutes=10), nonce=secrets.token_hex(16), claim="f"
    )
    token = warnings.keep_running_token(warning)

    @fuzz_settings(examples=150)
    @given(bad=hostile_tokens(token, warning.nonce), method=st.sampled_from(["get", "post"]))
    def refused(bad: str, method: str) -> None:
        client = Client(raise_request_exception=True)
        response = getattr(client, method)(f"/app/keep-running/{quote(bad, safe='')}/")
        assert response.status_code < 500, (bad, method)
        assert response.status_code != 302, (bad, method)
        assert not Override.objects.exists() and not StopWarning.objects.filter(used_at__isnull=False).exists()

    refused()
    # The real one still works, once.
    assert Client().post(f"/app/keep-running/{token}/").status_code == 302
    assert Override.objects.count() == 1
