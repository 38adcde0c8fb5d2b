"""/favicon.ico was a 404 on every page: browsers ask for it whatever a page links."""

from __future__ import annotations

import re

import pytest
from django.contrib.staticfiles import finders
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_favicon_ico_is_an_icon_not_a_404(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 200 and response["Content-Type"] == "image/x-icon"
    assert response.content[:4] == b"\x00\x00\x01\x00"  # an ICO file's header
    assert "max-age=86400" in response["Cache-Control"]
    assert client.post("/favicon.ico").status_code == 405


@pytest.mark.parametrize("url", [reverse("login"), reverse("admin:login")])
def test_self_service_and_admin_pages_link_the_icon(client, url):
    html = client.get(url).content.decode()
    links = re.findall(r'<link rel="icon" href="([^"]+)"', html)
    assert "/favicon.ico" in links
    (svg,) = [link for link in links if link.endswith(".svg")]
    assert finders.find(svg.removeprefix("/static/"))
