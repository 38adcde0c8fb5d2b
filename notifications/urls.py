"""Self-service notification channels, under /app/notifications/ (tenant admins)."""

from django.urls import path

import portal.converters  # noqa: F401  (registers <id:…>)

from notifications import views

app_name = "notifications"

urlpatterns = [
    path("notifications/", views.channels, name="channels"),
    path("notifications/<id:channel_pk>/", views.channel, name="channel"),
    path("notifications/<id:channel_pk>/test/", views.channel_test, name="channel_test"),
    path("notifications/<id:channel_pk>/delete/", views.channel_delete, name="channel_delete"),
]
