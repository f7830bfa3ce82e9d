"""The local AWS's IAM evaluator (local/policy.py): IAM's documented matching rules ("Policy evaluation logic", "IAM
JSON policy elements: Action / Resource"), and a loud refusal of what it does not evaluate."""

from __future__ import annotations

import pytest

from local.policy import PolicyError, decide, parse_document, parse_statement, resource_matches

TABLE = "arn:aws:dynamodb:eu-west-1:123456789012:table/orders"


def statements(*raw):
    return parse_document({"Statement": list(raw)})


def allow(action, resource):
    return {"Effect": "Allow", "Action": action, "Resource": resource}


@pytest.mark.parametrize(
    ("pattern", "action", "allowed"),
    [
        ("dynamodb:GetItem", "dynamodb:GetItem", True),
        ("dynamodb:GetItem", "dynamodb:PutItem", False),
        ("dynamodb:Get*", "dynamodb:GetItem", True),
        ("dynamodb:Get*", "dynamodb:BatchGetItem", False),
        ("DynamoDB:getitem", "dynamodb:GetItem", True),  # actions are case-insensitive
        ("dynamodb:?etItem", "dynamodb:GetItem", True),
        ("dynamodb:?etItem", "dynamodb:BatchGetItem", False),
        ("dynamodb:*", "secretsmanager:GetSecretValue", False),
        ("*", "secretsmanager:GetSecretValue", True),
    ],
)
def test_actions_match_with_wildcards_case_insensitively(pattern, action, allowed):
    assert decide(statements(allow(pattern, TABLE)), action, TABLE).allowed is allowed


@pytest.mark.parametrize(
    ("pattern", "resource", "matches"),
    [
        (TABLE, TABLE, True),
        (TABLE, TABLE + "s", False),  # a grant on another table is no grant
        (TABLE, TABLE + "/index/byDate", False),
        (TABLE + "/index/*", TABLE + "/index/byDate", True),
        ("arn:aws:dynamodb:eu-west-1:123456789012:table/Orders", TABLE, False),  # resources are case-sensitive
        ("arn:aws:dynamodb:*:123456789012:table/orders", TABLE, True),
        ("arn:aws:dynamodb:us-*:123456789012:table/orders", TABLE, False),
        ("arn:aws:dynamodb:eu-west-1:123456789012:table/ord?rs", TABLE, True),
        ("arn:aws:dynamodb:*", TABLE, True),  # a `*` that ends a segment may run past the colons
        ("*", TABLE, True),
        # inside a segment, a wildcard stays inside it: 1*3 is an account id, never "12:3"
        ("arn:aws:sqs:eu-west-1:1*3:q", "arn:aws:sqs:eu-west-1:123:q", True),
        ("arn:aws:sqs:eu-west-1:1*3:q", "arn:aws:sqs:eu-west-1:12:3:q", False),
        # the resource part (after the fifth colon) is one segment: colons inside it are just characters
        ("arn:aws:logs:eu-west-1:123456789012:log-group:*", "arn:aws:logs:eu-west-1:123456789012:log-group:a:*", True),
        (
            "arn:aws:secretsmanager:eu-west-1:123456789012:secret:m2m-*",
            "arn:aws:secretsmanager:eu-west-1:123456789012:secret:m2m-AbCdEf",
            True,
        ),
    ],
)
def test_resources_match_arn_segment_by_segment(pattern, resource, matches):
    assert resource_matches(pattern, resource) is matches


def test_an_explicit_deny_wins_wherever_it_stands():
    policy = statements(
        {"Effect": "Deny", "Action": "dynamodb:Delete*", "Resource": "*"},
        allow("dynamodb:*", TABLE),
    )
    assert decide(policy, "dynamodb:DeleteItem", TABLE).effect == "explicit_deny"
    assert decide(policy, "dynamodb:PutItem", TABLE).effect == "allow"
    reversed_order = statements(
        allow("dynamodb:*", TABLE), {"Effect": "Deny", "Action": "dynamodb:Delete*", "Resource": "*"}
    )
    assert decide(reversed_order, "dynamodb:DeleteItem", TABLE).effect == "explicit_deny"


def test_nothing_matching_is_an_implicit_deny():
    assert decide([], "dynamodb:GetItem", TABLE).effect == "implicit_deny"
    assert (
        decide(statements(allow("dynamodb:GetItem", TABLE)), "dynamodb:GetItem", TABLE + "2").effect == "implicit_deny"
    )


def test_not_action_and_not_resource_match_everything_else():
    policy = statements(
        {"Effect": "Allow", "NotAction": "dynamodb:Delete*", "Resource": TABLE},
        {"Effect": "Deny", "Action": "*", "NotResource": [TABLE, "arn:aws:secretsmanager:*"]},
    )
    assert decide(policy, "dynamodb:GetItem", TABLE).allowed
    assert not decide(policy, "dynamodb:DeleteItem", TABLE).allowed
    assert decide(policy, "dynamodb:GetItem", TABLE + "2").effect == "explicit_deny"


def test_the_statement_that_decided_is_named():
    policy = parse_document({"Statement": [allow("dynamodb:GetItem", TABLE)]}, "Policies[1] DynamoDBReadPolicy")
    assert decide(policy, "dynamodb:GetItem", TABLE).statement.source == "Policies[1] DynamoDBReadPolicy"


@pytest.mark.parametrize(
    ("statement", "complaint"),
    [
        ({**allow("s3:GetObject", "*"), "Condition": {"Bool": {"aws:SecureTransport": "true"}}}, "Condition"),
        (allow("s3:GetObject", "arn:aws:s3:::bucket/${aws:username}/*"), "policy variable"),
        ({**allow("s3:GetObject", "*"), "Principal": "*"}, "Principal"),
        (allow("dynamodb:GetItem", "orders"), "not an ARN"),  # an unresolved name: never silently no match
        ({"Effect": "allow", "Action": "s3:*", "Resource": "*"}, "Effect"),
        ({"Effect": "Allow", "Resource": "*"}, "Action"),
        ({"Effect": "Allow", "Action": "s3:*"}, "Resource"),
        ({**allow("s3:*", "*"), "Actions": "s3:*"}, "unknown statement key"),
        (allow("GetItem", "*"), "not an action"),
    ],
)
def test_what_the_local_check_cannot_evaluate_is_refused_loudly(statement, complaint):
    with pytest.raises(PolicyError, match=complaint):
        parse_statement(statement)
