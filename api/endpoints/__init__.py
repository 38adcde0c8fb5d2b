"""The /api/v1/ endpoints, one module per resource. Each parses its input,
calls the service or selector the self-service page calls, and shapes the answer."""
