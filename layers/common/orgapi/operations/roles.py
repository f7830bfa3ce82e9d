"""The organization roles a member can be given, with their permissions."""

from __future__ import annotations

from orgapi.operations.request import Request, Result
from orgapi.operations.services import Services


def list_roles(request: Request, services: Services) -> Result:
    roles = sorted(services.roles.cached(request.deadline).assignable, key=lambda role: role.name)
    return Result(200, [role.view() for role in roles])
