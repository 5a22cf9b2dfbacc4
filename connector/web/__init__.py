"""The HTTP layer the platforms build on: request bodies, budgets, ops, /v1, OpenAPI."""
