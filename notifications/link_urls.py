"""The pre-stop warning's keep-running link, under /app/keep-running/ (see
portal/urls.py): it works signed out, for whoever holds it, so it is not
among the member-only patterns of notifications.urls."""

from django.urls import path

from notifications import views_link

app_name = "links"

urlpatterns = [
    path("<str:link_token>/", views_link.keep_running, name="keep_running"),
]
