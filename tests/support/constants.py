"""Values the test support modules share."""

TEST_SECRET_KEY = "8w0VoWw3mnOJ6tLqMZx2y0PZ0ZqH0lF3d0bq5aSx4mY="
WEBHOOK_SECRET = "whsec_" + "dGVzdC1zZWNyZXQtZm9yLXdlYmhvb2tz"
