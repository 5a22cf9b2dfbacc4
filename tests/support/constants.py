"""Values the test support modules share."""

TEST_SECRET_KEY = "8w0VoWw3mnOJ6tLqMZx2y0PZ0ZqH0lF3d0bq5aSx4mY="
WEBHOOK_SECRET = "whsec_" + "dGVzdC1zZWNyZXQtZm9yLXdlYmhvb2tz"
# For runs that measure one account's throughput or faults, not fairness between accounts.
NO_ACCOUNT_LIMITS = {"CONNECTOR_ACCOUNT_MAX_IN_FLIGHT": "0", "CONNECTOR_ACCOUNT_SUBMIT_RATE": "0"}
