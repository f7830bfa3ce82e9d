"""The stand-in's M2M app (local only: these values are not secrets anywhere else)."""

M2M_APP_ID = "m2m-local-app"
M2M_APP_SECRET = "local-m2m-secret-0123456789abcdef"
SPA_APP_ID = "demo-console-spa"  # the demo console's single-page app (local/logto/oidc.py: its redirect URIs)
SEEDED_PASSWORD = "local-demo-password"  # every seeded user's, on the stand-in's sign-in page
