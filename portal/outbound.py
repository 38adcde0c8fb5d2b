"""Every HTTP request Parkway makes to an address a customer gave (webhooks)
goes through here, as every AWS call goes through tenants/aws.py.

A customer chooses the URL, so the URL is untrusted: only http and https; the
host is resolved once and every address it resolves to must be global (no
loopback, private, link-local, reserved, multicast or shared addresses), then
the connection goes to that vetted address (a second DNS answer cannot swap in
another, "DNS rebinding"). Redirects are never followed: a 3xx is an error.
Connect and read time out, responses are read up to a cap, and a connection
that could not be made is retried a bounded number of times (nothing was sent,
so a retry cannot deliver twice). `PARKWAY_WEBHOOK_ALLOW_PRIVATE=true` lifts
the address rule for the demo and tests.

Errors are `OutboundError`: a human message without the URL's path or query
(webhook URLs carry tokens) and a `permanent` flag, as in tenants.aws.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

USER_AGENT = "Parkway-Notifications/1"
DEFAULT_TIMEOUT = 10.0
MAX_RESPONSE_BYTES = 64 * 1024
CONNECT_RETRIES = 2


class OutboundError(Exception):
    """A request that did not get a 2xx answer. `permanent`: retrying will not help."""

    def __init__(self, message: str, *, permanent: bool, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent
        self.status = status


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes


def safe_target(url: str) -> str:
    """What may be shown or logged of a URL: scheme and host, never path or query (tokens live there)."""
    try:
        parts = urlsplit(url)
        return f"{parts.scheme}://{parts.hostname or '?'}"
    except ValueError:
        return "an invalid URL"


def _allow_private() -> bool:
    return bool(getattr(settings, "PARKWAY_WEBHOOK_ALLOW_PRIVATE", False))


def address_refusal(address: str) -> str:
    """Why Parkway will not call this IP address, or '' when it may."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_global and not ip.is_multicast:
        return ""
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address (such as the cloud metadata service)"
    if ip.is_private:
        return "a private network address"
    return "an address that is not on the public internet"


def _parse(url: str) -> tuple[str, str, int, str]:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise OutboundError("The URL is not valid.", permanent=True) from exc
    if parts.scheme not in ("http", "https"):
        raise OutboundError("Only http:// and https:// URLs can be called.", permanent=True)
    if not parts.hostname:
        raise OutboundError("The URL has no host.", permanent=True)
    if parts.username or parts.password:
        raise OutboundError("URLs with a user name or password are not accepted.", permanent=True)
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    return parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80), path


def resolve(host: str, port: int) -> str:
    """The address to connect to: every address of `host` must be allowed (one bad answer refuses all)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise OutboundError(f"The host {host} could not be resolved.", permanent=False) from exc
    addresses = [info[4][0] for info in infos]
    if not addresses:
        raise OutboundError(f"The host {host} could not be resolved.", permanent=False)
    if not _allow_private():
        for address in addresses:
            reason = address_refusal(address)
            if reason:
                raise OutboundError(f"The host {host} resolves to {reason}: Parkway does not call it.", permanent=True)
    return addresses[0]


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, host: str, port: int, *, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int, *, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        # Certificate checked against the host name, whatever address we connected to.
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def post(
    url: str,
    *,
    body: bytes,
    headers: dict[str, str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    connect_retries: int = CONNECT_RETRIES,
    max_bytes: int = MAX_RESPONSE_BYTES,
) -> Response:
    """POST `body` to `url`; a 2xx Response, or OutboundError.

    5xx, 429 and time-outs are transient; other 4xx, 3xx (redirects are not
    followed) and refused addresses are permanent."""
    scheme, host, port, path = _parse(url)
    request_headers = {"User-Agent": USER_AGENT, "Content-Type": "application/json"} | (headers or {})
    for attempt in range(connect_retries + 1):
        address = resolve(host, port)
        cls = _PinnedHTTPSConnection if scheme == "https" else _PinnedHTTPConnection
        conn = cls(host, port, address=address, timeout=timeout)
        try:
            try:
                conn.connect()
            except (ConnectionError, socket.timeout, OSError) as exc:
                if attempt < connect_retries:
                    time.sleep(0.2 * (2**attempt))
                    continue
                raise OutboundError(f"Could not connect to {host}: {_reason(exc)}.", permanent=False) from exc
            try:
                conn.request("POST", path, body=body, headers=request_headers)
                answer = conn.getresponse()
                data = answer.read(max_bytes + 1)
            except (socket.timeout, TimeoutError) as exc:
                raise OutboundError(f"{host} did not answer within {timeout:g} s.", permanent=False) from exc
            except (OSError, http.client.HTTPException) as exc:
                raise OutboundError(f"The connection to {host} failed: {_reason(exc)}.", permanent=False) from exc
        finally:
            conn.close()
        if len(data) > max_bytes:
            data = data[:max_bytes]
        return _judge(host, answer.status, data)
    raise AssertionError("unreachable")  # pragma: no cover


def _reason(exc: BaseException) -> str:
    return type(exc).__name__ if not str(exc) else str(exc)[:200]


def _judge(host: str, status: int, data: bytes) -> Response:
    if 200 <= status < 300:
        return Response(status=status, body=data)
    if 300 <= status < 400:
        raise OutboundError(
            f"{host} answered with a redirect ({status}); Parkway does not follow redirects: use the final URL.",
            permanent=True, status=status,
        )
    if status >= 500 or status in (408, 429):
        raise OutboundError(f"{host} answered {status} (a temporary error).", permanent=False, status=status)
    raise OutboundError(f"{host} answered {status}.", permanent=True, status=status)
