"""The public REST API (/api/v1/): per-user and staff tokens, and the endpoints
that call the same services as the self-service pages (see docs/api.md)."""
