"""Writes docs/openapi.json from the route table, the request models and the response views, so the document cannot
drift from the code (tests/contract/test_openapi.py regenerates it and compares).

Run: PYTHONPATH=layers/common python scripts/openapi.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "layers" / "common"))

from orgapi.contract import models, views  # noqa: E402
from orgapi.contract.routes import HEALTH_ROUTE, ROUTES, TokenKind  # noqa: E402
from orgapi.outcomes.audit import ACTIONS  # noqa: E402

OUTPUT = ROOT / "docs" / "openapi.json"
NULLABLE_STRING = {"type": ["string", "null"]}
ROLE_REFS = {
    "type": "array",
    "items": {"type": "object", "properties": {"id": {"type": "string"}, "name": {"type": "string"}}},
}


def _object(fields: tuple[str, ...], extra: dict[str, Any] | None = None) -> dict[str, Any]:
    kinds = {
        "createdAt": {"type": "integer"},
        "updatedAt": {"type": "integer"},
        "expiresAt": {"type": "integer"},
        "customData": {"type": "object"},
    }
    properties = {f: kinds.get(f, NULLABLE_STRING) for f in fields}
    return {"type": "object", "properties": {**properties, **(extra or {})}}


SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["message", "code"],
        "properties": {"message": {"type": "string"}, "code": {"type": "string"}},
    },
    "Organization": _object(views.ORGANIZATION_FIELDS),
    "OrganizationWithRoles": _object(views.ORGANIZATION_FIELDS, {"organizationRoles": ROLE_REFS}),
    "Member": _object(views.MEMBER_FIELDS, {"organizationRoles": ROLE_REFS}),
    "Invitation": _object(views.INVITATION_FIELDS, {"organizationRoles": ROLE_REFS}),
    "CreatedInvitation": _object(
        views.INVITATION_FIELDS,
        {
            "organizationRoles": ROLE_REFS,
            "email": {
                "description": "only with INVITATION_LINK set: whether Logto sent the invitation e-mail (null: "
                "unknown, the answer timed out); when not, the invitation still exists and `code` says why "
                "(re-send with POST .../message)",
                "type": "object",
                "required": ["sent"],
                "properties": {"sent": {"type": ["boolean", "null"]}, "code": {"type": "string"}},
            },
        },
    ),
    "OwnInvitation": _object(
        views.INVITATION_FIELDS,
        {
            "organizationRoles": ROLE_REFS,
            "organization": {
                "type": "object",
                "properties": {"id": {"type": "string"}, "name": {"type": "string"}},
            },
        },
    ),
    "Role": {
        "type": "object",
        "properties": {
            "id": {"type": "string"},
            "name": {"type": "string"},
            "description": NULLABLE_STRING,
            "permissions": {"type": "array", "items": {"type": "string"}},
            "apiPermissions": {"type": "array", "items": {"type": "string"}},
        },
    },
    "AddedMembers": {
        "type": "object",
        "properties": {
            "userIds": {"type": "array", "items": {"type": "string"}},
            "roleNames": {"type": "array", "items": {"type": "string"}},
        },
    },
    "Membership": {
        "type": "object",
        "properties": {
            "userId": {"type": "string"},
            "organizationRoles": ROLE_REFS,
            "permissions": {"type": "array", "items": {"type": "string"}},
        },
    },
    "AuditEntry": {
        "type": "object",
        "description": "one change that happened (orgapi.outcomes.audit); ids only",
        "required": ["id", "time", "action", "organizationId", "actor", "targets", "status"],
        "properties": {
            "id": {"type": "string", "description": "stable: the change event carries the same id"},
            "time": {"type": "string", "format": "date-time"},
            "action": {"type": "string", "enum": sorted(ACTIONS)},
            "organizationId": {"type": "string"},
            "actor": {
                "type": "object",
                "properties": {
                    "userId": NULLABLE_STRING,
                    "applicationId": NULLABLE_STRING,
                    "clientId": NULLABLE_STRING,
                },
            },
            "targets": {
                "type": "object",
                "properties": {
                    "userIds": {"type": "array", "items": {"type": "string"}},
                    "roleNames": {"type": "array", "items": {"type": "string"}},
                    "invitationId": {"type": "string"},
                },
            },
            "status": {"type": "integer"},
        },
    },
    "MemberRoles": {
        "type": "object",
        "properties": {"userId": {"type": "string"}, "roleNames": {"type": "array", "items": {"type": "string"}}},
    },
}

# route -> (request body model, query model, success status, success schema)
OPERATIONS: dict[str, tuple[Any, Any, int, Any]] = {
    "create_organization": (models.CreateOrganization, None, 201, "OrganizationWithRoles"),
    "list_organizations": (None, None, 200, ["OrganizationWithRoles"]),
    "get_organization": (None, None, 200, "Organization"),
    "update_organization": (models.UpdateOrganization, None, 200, "Organization"),
    "delete_organization": (None, None, 204, None),
    "list_members": (None, models.MembersQuery, 200, ["Member"]),
    "add_members": (models.AddMembers, None, 201, "AddedMembers"),
    "remove_member": (None, None, 204, None),
    "replace_member_roles": (models.ReplaceMemberRoles, None, 200, "MemberRoles"),
    "list_roles": (None, None, 200, ["Role"]),
    "list_invitations": (None, None, 200, ["Invitation"]),
    "create_invitation": (models.CreateInvitation, None, 201, "CreatedInvitation"),
    "revoke_invitation": (None, None, 204, None),
    "get_own_membership": (None, None, 200, "Membership"),
    "leave_organization": (None, None, 204, None),
    "send_invitation_message": (None, None, 204, None),
    "list_own_invitations": (None, None, 200, ["OwnInvitation"]),
    "accept_invitation": (None, None, 200, "Invitation"),
    "decline_invitation": (None, None, 200, "Invitation"),
    "list_audit": (None, models.AuditQuery, 200, ["AuditEntry"]),
}
ERRORS = {
    "400": "bad input",
    "401": "missing or invalid token",
    "403": "the token's permissions or organization do not cover the route",
    "404": "not found",
    "409": "conflict",
    "422": "semantically invalid",
    "429": "rate limited (Retry-After)",
    "502": "Logto failed",
    "503": "unavailable (Retry-After)",
    "504": "Logto timed out",
}


_HEADER_TYPES = {"Total-Number": "integer", "Next-Cursor": "string"}


def _ref(schema: Any) -> dict[str, Any]:
    if isinstance(schema, list):
        return {"type": "array", "items": {"$ref": f"#/components/schemas/{schema[0]}"}}
    return {"$ref": f"#/components/schemas/{schema}"}


def _model_schema(model: Any) -> dict[str, Any]:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    SCHEMAS.update(schema.pop("$defs", {}))
    SCHEMAS[model.__name__] = schema
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def build() -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for route in ROUTES:
        body, query, status, success = OPERATIONS[route.name]
        kinds = ", ".join(sorted(k.value for k in route.kinds))
        permission = route.permission or ("any valid token" if TokenKind.GLOBAL_API in route.kinds else "membership")
        operation: dict[str, Any] = {
            "operationId": route.name,
            "summary": route.name.replace("_", " ").capitalize(),
            "description": f"Token kinds: {kinds}. Permission: {permission}.",
            "x-required-permission": route.permission,
            "security": [{"bearer": []}],
            "parameters": [
                {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
                for name in ("organizationId", "userId", "invitationId")
                if "{" + name + "}" in route.path
            ],
            "responses": {
                str(status): {"description": "success"}
                | ({"content": {"application/json": {"schema": _ref(success)}}} if success else {})
            },
        }
        if query is not None:
            for name in query.model_fields:
                operation["parameters"].append(
                    {
                        "name": name,
                        "in": "query",
                        "required": False,
                        "schema": query.model_json_schema()["properties"][name],
                    }
                )
            header = "Next-Cursor" if route.name == "list_audit" else "Total-Number"
            operation["responses"][str(status)]["headers"] = {header: {"schema": {"type": _HEADER_TYPES[header]}}}
        if route.name == "create_organization":
            operation["parameters"].append(
                {
                    "name": "Idempotency-Key",
                    "in": "header",
                    "required": False,
                    "schema": {"type": "string", "maxLength": 128},
                }
            )
        if body is not None:
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": _model_schema(body)}},
            }
        for code, text in ERRORS.items():
            operation["responses"][code] = {
                "description": text,
                "content": {"application/json": {"schema": _ref("Error")}},
            }
        paths.setdefault(route.path, {})[route.method.lower()] = operation
    paths[HEALTH_ROUTE.path] = {
        "get": {
            "operationId": "health",
            "security": [],
            "responses": {
                "200": {"description": "alive", "content": {"application/json": {"schema": {"type": "object"}}}}
            },
        }
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Logto organization API",
            "version": "1.0.0",
            "description": "Self-service organization management in front of Logto. See README.md and CONTRACT.md.",
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
            "schemas": dict(sorted(SCHEMAS.items())),
        },
        "paths": paths,
    }


def render() -> str:
    return json.dumps(build(), indent=2, sort_keys=False) + "\n"


if __name__ == "__main__":
    OUTPUT.write_text(render())
    print(f"wrote {OUTPUT.relative_to(ROOT)}")
