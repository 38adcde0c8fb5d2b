"""portal/outbound.py: the one way out to a customer's URL."""

from __future__ import annotations

import socket

import pytest

from portal import outbound


@pytest.mark.parametrize(
    "address", ["127.0.0.1", "10.1.2.3", "172.16.0.9", "192.168.1.1", "169.254.169.254", "::1", "fe80::1", "100.64.0.1", "0.0.0.0", "::ffff:127.0.0.1"]
)
def test_non_global_addresses_are_refused_unless_allowed(address, settings):
    settings.PARKWAY_WEBHOOK_ALLOW_PRIVATE = False
    assert outbound.address_refusal(address)
    host = f"[{address}]" if ":" in address else address
    with pytest.raises(outbound.OutboundError) as caught:
        outbound.post(f"http://{host}:9/hook", body=b"{}")
    assert caught.value.permanent
    assert "does not call it" in caught.value.message


def test_a_public_address_is_allowed():
    assert outbound.address_refusal("93.184.215.14") == ""
    assert outbound.address_refusal("2606:4700::1111") == ""


def test_a_name_that_resolves_to_a_private_address_is_refused(settings, monkeypatch):
    settings.PARKWAY_WEBHOOK_ALLOW_PRIVATE = False
    # DNS is the outside world: this name answers one public and one private address.
    answers = [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.215.14", 443)),
               (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.5", 443))]
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: answers)
    with pytest.raises(outbound.OutboundError, match="private network"):
        outbound.post("https://hooks.example.com/x", body=b"{}")


@pytest.mark.parametrize("url", ["ftp://example.com/x", "file:///etc/passwd", "gopher://x", "http://user:pw@example.com/", "http:///nohost", "http://[::1"])
def test_only_http_and_https_urls_are_called(url):
    with pytest.raises(outbound.OutboundError) as caught:
        outbound.post(url, body=b"{}")
    assert caught.value.permanent


def test_a_redirect_is_refused_and_not_followed(receiver):
    receiver.status = 302
    receiver.location = receiver.url("/elsewhere")
    with pytest.raises(outbound.OutboundError, match="does not follow redirects") as caught:
        outbound.post(receiver.url(), body=b"{}")
    assert caught.value.permanent and caught.value.status == 302
    assert [r.path for r in receiver.requests] == ["/hook/T0KEN"]


def test_errors_never_carry_the_urls_path(receiver):
    receiver.status = 404
    with pytest.raises(outbound.OutboundError) as caught:
        outbound.post(receiver.url("/services/T000/B000/SECRETTOKEN"), body=b"{}")
    assert "SECRETTOKEN" not in caught.value.message
    assert caught.value.permanent


def test_5xx_is_transient_and_4xx_permanent(receiver):
    receiver.status = 503
    with pytest.raises(outbound.OutboundError) as caught:
        outbound.post(receiver.url(), body=b"{}")
    assert not caught.value.permanent
    receiver.status = 410
    with pytest.raises(outbound.OutboundError) as caught:
        outbound.post(receiver.url(), body=b"{}")
    assert caught.value.permanent


def test_a_response_is_read_up_to_the_cap(receiver):
    response = outbound.post(receiver.url(), body=b"{}", max_bytes=1)
    assert response.status == 200 and response.body == b"o"


def test_a_silent_server_times_out_as_a_transient_error(settings):
    settings.PARKWAY_WEBHOOK_ALLOW_PRIVATE = True
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)
    try:
        with pytest.raises(outbound.OutboundError) as caught:
            outbound.post(f"http://127.0.0.1:{silent.getsockname()[1]}/", body=b"{}", timeout=0.3)
        assert not caught.value.permanent
    finally:
        silent.close()


def test_a_closed_port_is_retried_then_reported(settings):
    settings.PARKWAY_WEBHOOK_ALLOW_PRIVATE = True
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    with pytest.raises(outbound.OutboundError, match="Could not connect") as caught:
        outbound.post(f"http://127.0.0.1:{port}/", body=b"{}", connect_retries=1)
    assert not caught.value.permanent
