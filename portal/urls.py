from django.contrib import admin
from django.urls import path
from django.views.generic import RedirectView

admin.site.site_header = "Parkway operations"
admin.site.site_title = "Parkway"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
]
