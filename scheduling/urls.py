"""Self-service URLs for machines, schedules and activity, under /app/ (see portal/urls.py).

Object IDs are named `<model>_pk`; tests/selfservice walks these patterns and
fills each one with another tenant's object, expecting a 404.
"""

from django.urls import path

import portal.converters  # noqa: F401  (registers <id:…>)

from scheduling import views, views_activity, views_savings

app_name = "scheduling"

urlpatterns = [
    path("resources/", views.resource_list, name="resources"),
    path("resources/selection/", views.resource_bulk, name="resource_bulk"),
    path("resources/<id:resource_pk>/", views.resource_detail, name="resource"),
    path("resources/<id:resource_pk>/schedule/", views.resource_assign, name="resource_assign"),
    path("resources/<id:resource_pk>/snooze/", views.resource_snooze, name="resource_snooze"),
    path("resources/<id:resource_pk>/snooze/cancel/", views.resource_snooze_cancel, name="resource_snooze_cancel"),
    path("schedules/", views.schedule_list, name="schedules"),
    path("schedules/new/", views.schedule_create, name="schedule_create"),
    path("schedules/<id:schedule_pk>/", views.schedule_detail, name="schedule"),
    path("schedules/<id:schedule_pk>/delete/", views.schedule_delete, name="schedule_delete"),
    path("activity/", views_activity.activity, name="activity"),
    path("savings.csv", views_savings.savings_csv, name="savings_csv"),
]
