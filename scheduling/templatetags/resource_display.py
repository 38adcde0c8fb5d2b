"""How a resource's kind-specific facts read, on admin and self-service pages alike."""

from __future__ import annotations

from django import template

from scheduling.models import Resource

register = template.Library()


@register.filter(name="resource_type")
def resource_type_label(resource: Resource) -> str:
    """"t3.micro"; "db.r6g.large · aurora-postgresql"; "1/2/4 (min/desired/max)" for a group."""
    if resource.kind == Resource.Kind.AUTOSCALING_GROUP:
        label = f"{resource.sizes_label} (min/desired/max)" if resource.sizes_label else ""
        if resource.saved_sizes_label and resource.saved_sizes_label != resource.sizes_label:
            label = f"{label}; restored to {resource.saved_sizes_label}".lstrip("; ")
        return label
    return " · ".join(part for part in (resource.instance_type, resource.engine) if part)
