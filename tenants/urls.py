"""Self-service URLs for accounts, under /app/ (see portal/urls.py).

Object IDs are named `<model>_pk`; tests/selfservice walks these patterns and
fills each one with another tenant's object, expecting a 404.
"""

from django.urls import path

import portal.converters  # noqa: F401  (registers <id:…>)

from tenants import views, views_members

app_name = "tenants"

urlpatterns = [
    path("", views.overview, name="overview"),
    path("organisation/", views.choose_tenant, name="choose_tenant"),
    path("settings/", views.user_settings, name="settings"),
    path("connect/", views.connect, name="connect"),
    path(f"connect/{views.TEMPLATE_FILENAME}", views.template_download, name="template"),
    path("connect/terraform", views.terraform_download, name="terraform"),
    path("accounts/<id:account_pk>/", views.account_detail, name="account"),
    path("accounts/<id:account_pk>/test/", views.account_test, name="account_test"),
    path("accounts/<id:account_pk>/switch/", views.account_switch, name="account_switch"),
    path("accounts/<id:account_pk>/disconnect/", views.account_disconnect, name="account_disconnect"),
    path("members/", views_members.members, name="members"),
    path("members/invite/", views_members.invite, name="member_invite"),
    path("members/<id:membership_pk>/role/", views_members.member_role, name="member_role"),
    path("members/<id:membership_pk>/remove/", views_members.member_remove, name="member_remove"),
    path("members/invitations/<id:invitation_pk>/withdraw/", views_members.invitation_withdraw, name="invitation_withdraw"),
]
