"""The invitation link, under /app/invitations/ (see portal/urls.py): it works
signed out, so it is not among the member-only patterns of tenants.urls."""

from django.urls import path

from tenants import views_members

app_name = "invitations"

urlpatterns = [
    path("<str:token>/", views_members.invitation_open, name="accept"),
]
