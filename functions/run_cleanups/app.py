"""Scheduled (EventBridge): finish pending clean-ups (thin handler: the rules live in orgapi.cleanup_run)."""

from orgapi.cleanup_run import build_cleanup_handler

lambda_handler = build_cleanup_handler()
