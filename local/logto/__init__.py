"""A Logto stand-in for local runs and tests (never shipped in the Lambda artifacts)."""
