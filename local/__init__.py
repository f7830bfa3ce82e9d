"""Docker-free local run: API Gateway emulation from template.yaml, a Logto stand-in, a local Secrets Manager."""
