"""The shared layer of the Logto organization API: one subpackage per concern, each importing only from the ones
before it in LAYERS (tests/unit/test_layout.py walks the imports and fails on an upward one).

- base:       settings, errors, deadlines, logging and metrics, strict JSON, the CORS policy
- contract:   what the API promises: token kinds, the route table, request models, response views
- tokens:     verifying a Logto JWT (JWKS, claims), the authorizer's policy and context, the caller's identity
- logto:      talking to Logto: HTTP (retries, deadlines, compression), answer shapes, M2M token, Management API,
              what a Logto failure means as one of our errors
- rules:      what a token cannot prove: live permissions, roles and rank, the orphan guard, the organization lease
- outcomes:   what happened in Logto when an answer was lost: look-ups, compensation, creation, clean-up records
- operations: one module per family of routes, on their own Request/Result; the services they are given
- gateway:    the API Gateway adapter: event → Request, Result → response, CORS headers, error mapping
"""

LAYERS = ("base", "contract", "tokens", "logto", "rules", "outcomes", "operations", "gateway")
