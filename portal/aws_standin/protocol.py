"""AWS wire formats: what we read from a request, and AWS-shaped error responses."""

from __future__ import annotations

import io
import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

from moto.moto_server.werkzeug_app import UNSIGNED_ACTIONS

StartResponse = Callable[..., Any]

_CREDENTIAL_RE = re.compile(r"Credential=([^/\s,]+)/\d{8}/([^/]+)/([^/]+)/aws4_request")
_QUERY_NAMESPACES = {
    "sts": "https://sts.amazonaws.com/doc/2011-06-15/",
    "iam": "https://iam.amazonaws.com/doc/2010-05-08/",
}


@dataclass
class ApiRequest:
    """The parts of an AWS API request the checks need."""

    method: str
    service: str  # SigV4 signing name: "sts", "ec2", "iam"...
    region: str
    action: str  # "AssumeRole", "DescribeInstances"...
    params: dict[str, str] = field(default_factory=dict)  # first value of each param
    access_key_id: str | None = None
    session_token: str | None = None
    header_account: str | None = None  # x-moto-account-id
    json_protocol: bool = False

    @property
    def counter_key(self) -> str:
        return f"{self.service}:{self.action}"


def parse_request(environ: dict[str, Any]) -> ApiRequest:
    query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    params = {k: v[0] for k, v in query.items()}
    content_type = environ.get("CONTENT_TYPE", "")
    if content_type.startswith("application/x-www-form-urlencoded"):
        # Query-protocol APIs (STS, EC2, IAM) put their parameters in the body. Read
        # it and put it back so moto can read it again.
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        body = environ["wsgi.input"].read(length) if length > 0 else b""
        environ["wsgi.input"] = io.BytesIO(body)
        form = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
        params.update({k: v[0] for k, v in form.items()})

    access_key_id = service = region = None
    match = _CREDENTIAL_RE.search(
        environ.get("HTTP_AUTHORIZATION", "") or params.get("X-Amz-Credential", "")
    )
    if match:
        access_key_id, region, service = match.groups()
    action = params.get("Action") or environ.get("HTTP_X_AMZ_TARGET", "").rpartition(".")[2]
    action = action or environ.get("REQUEST_METHOD", "GET")
    if service is None:
        service, region = UNSIGNED_ACTIONS.get(action, ("unknown", "us-east-1"))
    return ApiRequest(
        method=environ.get("REQUEST_METHOD", "GET"),
        service=service.lower(),
        region=region or "us-east-1",
        action=action,
        params=params,
        access_key_id=access_key_id,
        session_token=environ.get("HTTP_X_AMZ_SECURITY_TOKEN")
        or params.get("X-Amz-Security-Token"),
        header_account=environ.get("HTTP_X_MOTO_ACCOUNT_ID"),
        json_protocol="json" in content_type,
    )


@dataclass(frozen=True)
class Rejection:
    """An AWS-style error response, in the wire format of the target service."""

    status: int
    code: str
    message: str
    service: str
    json_protocol: bool = False

    def __call__(self, start_response: StartResponse) -> list[bytes]:
        request_id = str(uuid.uuid4())
        if self.service == "ec2":
            # EC2 has its own error envelope (and "RequestID", not "RequestId").
            body = (
                '<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error>'
                f"<Code>{escape(self.code)}</Code><Message>{escape(self.message)}</Message>"
                f"</Error></Errors><RequestID>{request_id}</RequestID></Response>"
            )
            content_type = "text/xml;charset=UTF-8"
        elif self.json_protocol:
            body = json.dumps({"__type": self.code, "message": self.message})
            content_type = "application/x-amz-json-1.1"
        else:
            xmlns = _QUERY_NAMESPACES.get(self.service)
            attr = f' xmlns="{xmlns}"' if xmlns else ""
            body = (
                f"<ErrorResponse{attr}><Error><Type>Sender</Type>"
                f"<Code>{escape(self.code)}</Code><Message>{escape(self.message)}</Message>"
                f"</Error><RequestId>{request_id}</RequestId></ErrorResponse>"
            )
            content_type = "text/xml"
        data = body.encode("utf-8")
        start_response(
            f"{self.status} {HTTPStatus(self.status).phrase}",
            [
                ("Content-Type", content_type),
                ("Content-Length", str(len(data))),
                ("x-amzn-RequestId", request_id),
                ("x-amzn-ErrorType", self.code),
            ],
        )
        return [data]


def credential_rejection(request: ApiRequest, reason: str) -> Rejection:
    if request.service == "ec2":
        if reason == "expired":
            return Rejection(400, "RequestExpired", "Request has expired.", "ec2")
        return Rejection(
            401,
            "AuthFailure",
            "AWS was not able to validate the provided access credentials",
            "ec2",
        )
    if reason == "expired":
        code, message = "ExpiredToken", "The security token included in the request is expired"
    else:
        code, message = (
            "InvalidClientTokenId",
            "The security token included in the request is invalid.",
        )
    return Rejection(403, code, message, request.service, request.json_protocol)


def json_response(start_response: StartResponse, status: int, payload: Any) -> list[bytes]:
    """The stand-in's own endpoints (/_standin/...) answer JSON."""
    data = json.dumps(payload).encode("utf-8")
    start_response(
        f"{status} {HTTPStatus(status).phrase}",
        [("Content-Type", "application/json"), ("Content-Length", str(len(data)))],
    )
    return [data]
