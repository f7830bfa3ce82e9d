"""Scheduled (EventBridge): finish pending clean-ups (thin handler: the rules live in orgapi.operations.run_cleanups)."""

from orgapi.operations.run_cleanups import build_cleanup_handler

lambda_handler = build_cleanup_handler()
