"""Template tags for the admin: the migration panel on the index page."""

from __future__ import annotations

from typing import Any

from django import template
from django.urls import reverse

from tenants.migration import migration_progress

register = template.Library()


@register.inclusion_tag("admin/tenants/migration_panel.html", takes_context=True)
def migration_panel(context: dict[str, Any]) -> dict[str, Any]:
    """Accounts still on legacy keys vs migrated: one query (tenants.migration.migration_progress)."""
    user = context["request"].user
    if not user.has_perm("tenants.view_cloudaccount"):
        return {"visible": False}
    changelist = reverse("admin:tenants_cloudaccount_changelist")
    return {
        "visible": True,
        "progress": migration_progress(),
        "legacy_url": f"{changelist}?auth=legacy",
        "role_url": f"{changelist}?auth=role",
    }
