"""Where the role list comes from: RoleDirectory reads Logto's organization roles and hands out a cached catalog for
views and a fresh one wherever a decision depends on it (grants, rank, the orphan guard)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from orgapi.base.deadline import Deadline
from orgapi.base.observability import logger
from orgapi.logto.management import ManagementApi
from orgapi.rules.roles import OrganizationRole, RoleCatalog

RESOURCE_ID_CACHE_SECONDS = 3600


class RoleDirectory:
    def __init__(
        self, api: ManagementApi, api_resource: str, ttl_seconds: float, clock: Callable[[], float] = time.monotonic
    ):
        self._api, self._api_resource, self._ttl, self._clock = api, api_resource, ttl_seconds, clock
        self._cached: RoleCatalog | None = None
        self._fetched_at = 0.0
        self._resource_id: str | None = None
        self._resource_at = -float(RESOURCE_ID_CACHE_SECONDS)
        self._lock = threading.Lock()

    def fresh(self, deadline: Deadline) -> RoleCatalog:
        """Read Logto's role list now: decisions (grants, rank, the orphan guard) never use an older list."""
        resource_id = self.api_resource_id(deadline)
        catalog = RoleCatalog(
            tuple(OrganizationRole.from_logto(r, resource_id) for r in self._api.organization_roles(deadline))
        )
        with self._lock:
            self._cached, self._fetched_at = catalog, self._clock()
        return catalog

    def cached(self, deadline: Deadline) -> RoleCatalog:
        """For showing roles: a list up to ROLE_CACHE_SECONDS old is good enough."""
        with self._lock:
            if self._cached is not None and self._clock() - self._fetched_at < self._ttl:
                return self._cached
        return self.fresh(deadline)

    def api_resource_id(self, deadline: Deadline) -> str | None:
        """Logto's id of API_RESOURCE (role lists name resources by id, tokens by indicator). An indicator keeps its
        id until the resource is deleted, so the lookup is cached for an hour."""
        with self._lock:
            if self._resource_id is not None and self._clock() - self._resource_at < RESOURCE_ID_CACHE_SECONDS:
                return self._resource_id
        resource_id = self._api.resource_id(self._api_resource, deadline) if self._api_resource else None
        if resource_id is None:
            logger.error("api_resource_not_found")  # no API permission can then count: refuse rather than guess
            return None
        with self._lock:
            self._resource_id, self._resource_at = resource_id, self._clock()
        return resource_id
