from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path, re_path
from django.views.generic import RedirectView

from api.main import api
from api.views import api_not_found
from portal.views import PasswordResetView, favicon

admin.site.site_header = "Parkway operations"
admin.site.site_title = "Parkway"

# Customers' sign-in, sign-out, password change and reset (templates/registration/).
# Listed one by one rather than include("django.contrib.auth.urls"): the admin
# renders registration/logged_out.html and password_change_form.html itself, so
# ours have their own template names and the admin keeps its look.
account_patterns = [
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(next_page="login"), name="logout"),
    path(
        "password/",
        auth_views.PasswordChangeView.as_view(template_name="registration/change_password.html"),
        name="password_change",
    ),
    path(
        "password/done/",
        auth_views.PasswordChangeDoneView.as_view(template_name="registration/change_password_done.html"),
        name="password_change_done",
    ),
    path("password_reset/", PasswordResetView.as_view(), name="password_reset"),
    path("password_reset/done/", auth_views.PasswordResetDoneView.as_view(), name="password_reset_done"),
    path("reset/<uidb64>/<token>/", auth_views.PasswordResetConfirmView.as_view(), name="password_reset_confirm"),
    path("reset/done/", auth_views.PasswordResetCompleteView.as_view(), name="password_reset_complete"),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include(account_patterns)),
    # The customers' self-service pages; staff who open them are sent to admin/.
    path("app/invitations/", include("tenants.invitation_urls")),
    path("app/keep-running/", include("notifications.link_urls")),
    path("app/", include("tenants.urls")),
    path("app/", include("scheduling.urls")),
    path("app/", include("notifications.urls")),
    path("app/", include("api.urls")),
    # The REST API (docs/api.md); any other /api/ URL is a 404 in the API's error body.
    path("api/v1/", api.urls),
    re_path(r"^api/", api_not_found),
    path("", RedirectView.as_view(pattern_name="tenants:overview", permanent=False)),
    path("favicon.ico", favicon, name="favicon"),
]
