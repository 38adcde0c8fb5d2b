"""Self-service pages for a person's own API tokens, under /app/ (see portal/urls.py).

Object IDs are named `<model>_pk`; tests/selfservice walks these patterns and
fills each one with another tenant's object, expecting a 404.
"""

from django.urls import path

import portal.converters  # noqa: F401  (registers <id:…>)

from api import views

app_name = "tokens"

urlpatterns = [
    path("tokens/", views.token_list, name="tokens"),
    path("tokens/<id:token_pk>/revoke/", views.token_revoke, name="token_revoke"),
]
