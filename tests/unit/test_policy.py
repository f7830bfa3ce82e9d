"""The policy must allow exactly the routes the token may call, in its own organization only, for every route and
every cached reuse (the policy built for one request is evaluated against all others)."""

from __future__ import annotations

import itertools
import json

import pytest

from orgapi.contract.routes import ROUTES, TokenKind, required_permission
from orgapi.tokens.policy import BadMethodArn, arn_prefix, build_policy
from orgapi.tokens.verify import VerifiedToken
from tests.support.iam import evaluate, method_arn

ORG, OTHER = "org1abc", "org2xyz"
ALL_PERMISSIONS = frozenset(r.permission for r in ROUTES if r.permission)


def concrete_path(route, org):
    return route.path.replace("{organizationId}", org).replace("{userId}", "user-7").replace("{invitationId}", "inv-9")


def verified(kind, scopes, org=ORG):
    return VerifiedToken(
        kind, "user1", "app1", org if kind is not TokenKind.GLOBAL_API else None, frozenset(scopes), 2e9
    )


def expected_allowed(route, kind, scopes, path_org):
    if kind not in route.kinds:
        return False
    if route.organization_scoped and path_org != ORG:
        return False
    return route.permission is None or route.permission in scopes


SCOPE_SETS = [
    frozenset(),
    ALL_PERMISSIONS,
    frozenset({"member:read"}),
    frozenset({"org:create"}),
    frozenset({"member:invite", "role:assign"}),
    ALL_PERMISSIONS - {"member:remove"},
]


@pytest.mark.parametrize("kind", list(TokenKind))
@pytest.mark.parametrize("scopes", SCOPE_SETS, ids=lambda s: ",".join(sorted(s)) or "none")
def test_policy_allows_exactly_the_permitted_routes_in_the_own_organization(kind, scopes):
    first_request = method_arn(ROUTES[0].method, concrete_path(ROUTES[0], ORG))
    document = build_policy(first_request, verified(kind, scopes), {})["policyDocument"]
    for route, path_org in itertools.product(ROUTES, (ORG, OTHER)):
        arn = method_arn(route.method, concrete_path(route, path_org))
        decision = evaluate(document, arn)
        assert (decision == "allow") is expected_allowed(route, kind, scopes, path_org), (
            route.name,
            path_org,
            decision,
        )


def test_wildcard_segments_do_not_cover_other_routes_with_the_same_method():
    document = build_policy(
        method_arn("GET", "/organizations"), verified(TokenKind.ORGANIZATION, {"member:remove"}), {}
    )["policyDocument"]
    assert evaluate(document, method_arn("DELETE", f"/organizations/{ORG}/members/u1")) == "allow"
    assert evaluate(document, method_arn("DELETE", f"/organizations/{ORG}/invitations/i1")) == "implicit_deny"
    assert evaluate(document, method_arn("DELETE", f"/organizations/{ORG}")) == "implicit_deny"
    assert evaluate(document, method_arn("DELETE", f"/organizations/{OTHER}/members/u1")) == "implicit_deny"
    # an organization id that merely starts with ours is another organization
    assert evaluate(document, method_arn("DELETE", f"/organizations/{ORG}x/members/u1")) == "implicit_deny"


def test_resources_come_from_the_incoming_method_arn():
    arn = method_arn(
        "GET",
        f"/organizations/{ORG}",
        region="ap-south-2",
        account="999988887777",
        api="zz99",
        stage="dev",
        partition="aws-cn",
    )
    document = build_policy(arn, verified(TokenKind.ORGANIZATION, set()), {})["policyDocument"]
    for resource in document["Statement"][0]["Resource"]:
        assert resource.startswith("arn:aws-cn:execute-api:ap-south-2:999988887777:zz99/dev/")
    assert evaluate(document, arn) == "allow"
    assert evaluate(document, method_arn("GET", f"/organizations/{ORG}", stage="prod")) == "implicit_deny"


def test_token_with_no_route_gets_an_explicit_deny():
    document = build_policy(method_arn("GET", "/organizations"), verified(TokenKind.GLOBAL_API, set()), {})[
        "policyDocument"
    ]
    # a global token without org:create may still list its organizations
    assert evaluate(document, method_arn("GET", "/organizations")) == "allow"
    assert evaluate(document, method_arn("POST", "/organizations")) == "implicit_deny"


def test_permission_overrides_rename_required_permissions():
    overrides = {"member:read": "read:members"}
    route = next(r for r in ROUTES if r.name == "list_members")
    assert required_permission(route, overrides) == "read:members"
    arn = method_arn("GET", f"/organizations/{ORG}/members")
    old = build_policy(arn, verified(TokenKind.ORGANIZATION, {"member:read"}), overrides)["policyDocument"]
    new = build_policy(arn, verified(TokenKind.ORGANIZATION, {"read:members"}), overrides)["policyDocument"]
    assert evaluate(old, arn) == "implicit_deny"
    assert evaluate(new, arn) == "allow"


def test_context_is_flat_scalars_without_the_token():
    response = build_policy(
        method_arn("GET", "/organizations"), verified(TokenKind.ORGANIZATION_API, ALL_PERMISSIONS), {}
    )
    assert response["principalId"] == "user1"
    assert all(isinstance(v, (str, int, float, bool)) for v in response["context"].values())
    assert set(response["context"]) == {"sub", "clientId", "organizationId", "scopes", "tokenKind", "exp"}
    assert response["context"]["tokenKind"] == "organization_api"


def test_policy_size_stays_small_for_a_token_holding_everything():
    response = build_policy(
        method_arn("GET", "/x"), verified(TokenKind.ORGANIZATION, ALL_PERMISSIONS | {f"p{i}" for i in range(50)}), {}
    )
    assert len(json.dumps(response["policyDocument"])) < 8192
    assert len(json.dumps(response["context"])) < 2048


@pytest.mark.parametrize(
    "arn",
    [
        "",
        "not-an-arn",
        "arn:aws:s3:::bucket/key",
        "arn:aws:execute-api:eu-west-1:1:api",
        "arn:aws:execute-api:eu-west-1:1:/stage/GET/x",
    ],
)
def test_bad_method_arns(arn):
    with pytest.raises(BadMethodArn):
        arn_prefix(arn)


def test_evaluator_semantics():
    """The evaluator itself (shared with the local gateway): wildcards span slashes, Deny wins, default deny."""
    arn = method_arn("GET", "/organizations/o1/members")
    allow_all = {"Statement": [{"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": "arn:aws:*"}]}
    assert evaluate(allow_all, arn) == "allow"
    both = {
        "Statement": [*allow_all["Statement"], {"Effect": "Deny", "Action": "execute-api:Invoke", "Resource": [arn]}]
    }
    assert evaluate(both, arn) == "explicit_deny"
    assert evaluate({"Statement": []}, arn) == "implicit_deny"
    one_char = {"Statement": [{"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": arn.replace("o1", "o?")}]}
    assert evaluate(one_char, arn) == "allow"
    assert evaluate(one_char, arn.replace("o1", "o12")) == "implicit_deny"
    other_action = {"Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}
    assert evaluate(other_action, arn) == "implicit_deny"


@pytest.mark.parametrize(
    "scope",
    [
        "org:create2",
        "xorg:create",
        "org:creat",
        "ORG:CREATE",
        "org:cre\u0430te",
        "org:create,member:read",
        "org:create\tx",
    ],
)
def test_scope_tricks_do_not_grant_create(scope):
    from tests.support.jwt_factory import SigningKey, token
    from tests.support.verifier import make_verifier

    key = SigningKey.generate("k")
    verifier, _, _ = make_verifier([key])
    verified = verifier.verify("Bearer " + token(key, {"aud": "https://api.example.com/org", "scope": scope}))
    document = build_policy(method_arn("POST", "/organizations"), verified, {})["policyDocument"]
    assert evaluate(document, method_arn("POST", "/organizations")) == "implicit_deny"
    assert evaluate(document, method_arn("GET", "/organizations")) == "allow"
