"""Shared code of the Logto organization API: configuration, token verification, policies, Logto client."""
