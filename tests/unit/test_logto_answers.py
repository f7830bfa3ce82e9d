"""What Logto sends is read as Logto sends it: compressed bodies decoded (koa-compress, on every tenant request:
packages/core/src/tenants/Tenant.ts, gzip above 1 KB when the client accepts it), and a 2xx body that is not what the
call expects is an error (502 logto_bad_response), never "nothing" (issue 16).

The compressed answers come from a real loopback server, so the client reads them from a socket as it does in Lambda.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import socket
import threading
import time
import tracemalloc
import zlib
from collections.abc import Callable
from typing import Any

import pytest

from orgapi.base.config import load_settings
from orgapi.base.deadline import Deadline
from orgapi.base.errors import UpstreamError
from orgapi.logto import shapes
from orgapi.logto.http import MAX_RESPONSE_BYTES, HttpSender, NoAnswer
from orgapi.logto.m2m import M2MTokenProvider
from orgapi.logto.management import ManagementApi
from orgapi.logto.secrets import M2MCredentials
from orgapi.logto.upstream import api_error
from orgapi.rules.role_directory import RoleDirectory


class RawServer:
    """Answers every request with `answer(request_headers) -> bytes` (a whole HTTP response, written as given), then
    closes the connection. Records the request headers it saw."""

    def __init__(self, answer: Callable[[dict[str, str]], bytes]):
        self.answer, self.seen = answer, []
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                data = b""
                while b"\r\n\r\n" not in data:
                    part = conn.recv(65536)
                    if not part:
                        break
                    data += part
                head = data.split(b"\r\n\r\n")[0].decode("latin-1").split("\r\n")[1:]
                headers = {
                    k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in head if ":" in line)
                }
                self.seen.append(headers)
                with contextlib.suppress(OSError):  # the client stopped reading (an oversized body)
                    conn.sendall(self.answer(headers))

    def close(self):
        self.sock.close()


def http_response(body: bytes, *, encoding: str | None = None, length: int | None = None, status: int = 200) -> bytes:
    head = [f"HTTP/1.1 {status} OK", "Content-Type: application/json", "Connection: close"]
    if encoding:
        head.append(f"Content-Encoding: {encoding}")
    head.append(f"Content-Length: {len(body) if length is None else length}")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def deflate(data: bytes, *, raw: bool = False) -> bytes:
    obj = zlib.compressobj(wbits=-zlib.MAX_WBITS if raw else zlib.MAX_WBITS)
    return obj.compress(data) + obj.flush()


ENCODERS: dict[str, Callable[[bytes], bytes]] = {
    "gzip": gzip.compress,
    "deflate": deflate,  # zlib-wrapped, as koa-compress sends it (zlib.createDeflate)
    "deflate-raw": lambda data: deflate(data, raw=True),  # what some servers send for "deflate"
}


@pytest.fixture
def serve():
    servers: list[RawServer] = []

    def start(answer):
        server = RawServer(answer)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


def send(url: str, method: str = "GET", seconds: float = 10) -> Any:
    return HttpSender(sleep=lambda s: None).send(method, url, deadline=Deadline.after(seconds))


def roles_body(count: int) -> bytes:
    """A role list as Logto answers it, `count` roles long (well over koa-compress's 1 KB threshold)."""
    roles = [
        {
            "id": f"r{i}",
            "name": f"role-{i}",
            "description": "x" * 40,
            "type": "User",
            "scopes": [{"id": "s", "name": "org:update"}],
            "resourceScopes": [],
        }
        for i in range(count)
    ]
    return json.dumps(roles).encode()


@pytest.mark.parametrize("encoding", sorted(ENCODERS))
@pytest.mark.parametrize("count", [1, 20, 5_000])  # below the threshold, just above, several 64 KB reads
def test_compressed_answers_are_decoded(serve, encoding, count):
    body = roles_body(count)
    wire = encoding.split("-")[0]
    server = serve(lambda headers: http_response(ENCODERS[encoding](body), encoding=wire))
    response = send(server.url)
    assert response.readable and response.body == json.loads(body)


def test_we_offer_exactly_what_we_decode(serve):
    server = serve(lambda headers: http_response(b"{}"))
    send(server.url)
    assert server.seen[0]["accept-encoding"] == "gzip, deflate"


def test_a_decompression_bomb_is_refused_quickly_with_bounded_memory(serve):
    # 256 MB of zeros in about 250 KB of gzip: the client must stop at the cap, not inflate it all.
    obj, parts = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16), []
    block = b"\0" * (1024 * 1024)
    for _ in range(256):
        parts.append(obj.compress(block))
    bomb = b"".join(parts) + obj.flush()
    server = serve(lambda headers: http_response(bomb, encoding="gzip"))
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(NoAnswer) as lost:
            send(server.url)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert lost.value.reason == "oversized"
    assert peak < 3 * MAX_RESPONSE_BYTES
    assert time.perf_counter() - started < 5  # not a timing test: a full inflate of 256 MB would be far slower
    assert api_error(lost.value).code == "logto_bad_response"


def test_a_body_just_under_the_cap_still_decodes(serve):
    body = json.dumps({"id": "x", "pad": "a" * (MAX_RESPONSE_BYTES - 100)}).encode()
    server = serve(lambda headers: http_response(gzip.compress(body), encoding="gzip"))
    assert send(server.url).body["id"] == "x"


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_a_truncated_compressed_stream_is_a_lost_answer(serve, encoding):
    whole = ENCODERS[encoding](roles_body(200))
    cut = whole[: len(whole) // 2]
    # Content-Length says the truncated size: the transport looks complete, only the stream is cut short
    server = serve(lambda headers: http_response(cut, encoding=encoding))
    with pytest.raises(NoAnswer) as lost:
        send(server.url, "PUT")
    assert lost.value.reason == "connection_lost" and lost.value.maybe_applied


def test_a_connection_closed_mid_compressed_body_is_a_lost_answer(serve):
    whole = gzip.compress(roles_body(200))
    server = serve(lambda headers: http_response(whole[:500], encoding="gzip", length=len(whole)))
    with pytest.raises(NoAnswer) as lost:
        send(server.url, "POST")
    assert lost.value.reason == "connection_lost" and lost.value.maybe_applied


@pytest.mark.parametrize("encoding", ["br", "compress", "zstd"])
def test_an_encoding_we_never_offered_is_an_unreadable_answer(serve, encoding):
    server = serve(lambda headers: http_response(b"\x1b\x03\x00garbage", encoding=encoding))
    with pytest.raises(NoAnswer) as lost:
        send(server.url)
    assert lost.value.reason == "bad_answer"
    assert api_error(lost.value).status == 502 and api_error(lost.value).code == "logto_bad_response"


def test_corrupt_gzip_is_an_unreadable_answer(serve):
    server = serve(lambda headers: http_response(b"\x1f\x8b\x08\x00not really gzip at all", encoding="gzip"))
    with pytest.raises(NoAnswer) as lost:
        send(server.url)
    assert lost.value.reason == "bad_answer"


def test_a_body_that_is_not_json_is_marked_unreadable(serve):
    server = serve(lambda headers: http_response(b"<html>proxy error</html>"))
    response = send(server.url)
    assert response.ok and not response.readable and response.body is None


# -- every reader refuses what Logto would never send ------------------------------------------------------------------

API = "/api"
TOKEN = "/oidc/token"


def management(double) -> ManagementApi:
    settings = load_settings({"LOGTO_ENDPOINT": double.url, "M2M_SECRET_ID": "s"})
    tokens = M2MTokenProvider(settings, HttpSender(sleep=lambda s: None), lambda force: M2MCredentials("app", "secret"))
    return ManagementApi(settings, HttpSender(sleep=lambda s: None), tokens)


D = Deadline.after


# (reader, method, path on the Management API, a realistic good body)
READERS: list[tuple[str, Callable[[ManagementApi], Any], str, str, Any]] = [
    (
        "create_organization",
        lambda m: m.create_organization({"name": "n"}, D(5)),
        "POST",
        "/organizations",
        {"id": "o1", "name": "n"},
    ),
    (
        "get_organization",
        lambda m: m.get_organization("o1", D(5)),
        "GET",
        "/organizations/o1",
        {"id": "o1", "name": "n"},
    ),
    (
        "update_organization",
        lambda m: m.update_organization("o1", {"name": "n"}, D(5)),
        "PATCH",
        "/organizations/o1",
        {"id": "o1", "name": "n"},
    ),
    (
        "search_organizations",
        lambda m: m.search_organizations("n", D(5), page=1),
        "GET",
        "/organizations",
        [{"id": "o1", "name": "n"}],
    ),
    ("get_user", lambda m: m.get_user("u1", D(5)), "GET", "/users/u1", {"id": "u1"}),
    (
        "user_organizations",
        lambda m: m.user_organizations("u1", D(5)),
        "GET",
        "/users/u1/organizations",
        [{"id": "o1", "name": "n", "organizationRoles": [{"id": "r1", "name": "admin"}]}],
    ),
    (
        "list_members",
        lambda m: m.list_members("o1", D(5), page=1, page_size=20),
        "GET",
        "/organizations/o1/users",
        [{"id": "u1", "organizationRoles": []}],
    ),
    (
        "membership",
        lambda m: m.membership("o1", "u1", D(5)),
        "GET",
        "/organizations/o1/users/u1/roles",
        [{"id": "r1", "name": "admin"}],
    ),
    (
        "application_membership",
        lambda m: m.application_membership("o1", "a1", D(5)),
        "GET",
        "/organizations/o1/applications/a1/roles",
        [{"id": "r1", "name": "admin"}],
    ),
    (
        "user_role_ids",
        lambda m: m.user_role_ids("u1", D(5)),
        "GET",
        "/users/u1/roles",
        [{"id": "g1", "name": "creator"}],
    ),
    (
        "role_scopes",
        lambda m: m.role_scopes("g1", D(5)),
        "GET",
        "/roles/g1/scopes",
        [{"id": "s1", "name": "org:create", "resource": {"id": "res", "indicator": "https://api"}}],
    ),
    (
        "resource_id",
        lambda m: m.resource_id("https://api", D(5)),
        "GET",
        "/resources",
        [{"id": "res", "indicator": "https://api"}],
    ),
    (
        "organization_roles",
        lambda m: m.organization_roles(D(5)),
        "GET",
        "/organization-roles",
        [{"id": "r1", "name": "admin", "scopes": [], "resourceScopes": []}],
    ),
    (
        "list_invitations",
        lambda m: m.list_invitations("o1", D(5)),
        "GET",
        "/organization-invitations",
        [{"id": "i1", "organizationId": "o1", "invitee": "a@b.c", "status": "Pending"}],
    ),
    (
        "create_invitation",
        lambda m: m.create_invitation({"organizationId": "o1"}, D(5)),
        "POST",
        "/organization-invitations",
        {"id": "i1", "organizationId": "o1", "invitee": "a@b.c", "status": "Pending"},
    ),
    (
        "get_invitation",
        lambda m: m.get_invitation("i1", D(5)),
        "GET",
        "/organization-invitations/i1",
        {"id": "i1", "organizationId": "o1", "invitee": "a@b.c", "status": "Pending"},
    ),
    (
        "accept_invitation",
        lambda m: m.accept_invitation("i1", "u1", D(5)),
        "PUT",
        "/organization-invitations/i1/status",
        {"id": "i1", "organizationId": "o1", "invitee": "a@b.c", "status": "Accepted"},
    ),
    (
        "revoke_invitation",
        lambda m: m.revoke_invitation("i1", D(5)),
        "PUT",
        "/organization-invitations/i1/status",
        {"id": "i1", "organizationId": "o1", "invitee": "a@b.c", "status": "Revoked"},
    ),
]


# Bodies no Logto answer of that call could be: garbage, another JSON type, a list where an object belongs (and the
# reverse), items of the wrong type, a decision field missing or of the wrong type.
def wrong_bodies(good: Any) -> list[Any]:
    bodies: list[Any] = ["<html>", 42, None, "a string"]
    if isinstance(good, list):
        item = good[0]
        bodies += [
            item,
            [1, 2],
            [None],
            [{**item, "id": 7}],
            [{k: v for k, v in item.items() if k != "id" and k != "name"}],
        ]
    else:
        bodies += [[good], {**good, "id": None}, {k: v for k, v in good.items() if k != "id"}]
    return bodies


def register(double, method: str, path: str, body: Any, *, raw: bytes | None = None):
    double.post(TOKEN, json={"access_token": "m2m", "expires_in": 3600, "scope": "all"})
    if raw is not None:
        double.add(method, f"{API}{path}", body=raw, content_type="application/json")
    else:
        double.add(method, f"{API}{path}", json=body)


@pytest.mark.parametrize(("name", "reader", "method", "path", "good"), READERS, ids=[r[0] for r in READERS])
def test_every_reader_accepts_logtos_shape(double, name, reader, method, path, good):
    register(double, method, path, good)
    reader(management(double))  # no exception: the shapes are Logto's own


@pytest.mark.parametrize(("name", "reader", "method", "path", "good"), READERS, ids=[r[0] for r in READERS])
def test_every_reader_refuses_a_body_logto_never_sends(double, name, reader, method, path, good):
    for index, bad in enumerate([*wrong_bodies(good), b"not json"]):
        double.reset()
        double.post(TOKEN, json={"access_token": "m2m", "expires_in": 3600, "scope": "all"})
        if isinstance(bad, bytes):
            double.add(method, f"{API}{path}", body=bad, content_type="application/json")
        else:
            double.add(method, f"{API}{path}", body=json.dumps(bad), content_type="application/json")
        with pytest.raises(NoAnswer) as lost:
            reader(management(double))
        assert lost.value.reason == "bad_answer", (name, index, bad)
        # a write that answered 2xx may have happened: the outcome rules must look it up, never assume it didn't
        assert lost.value.maybe_applied == (method != "GET"), (name, bad)
        error = api_error(lost.value)
        assert isinstance(error, UpstreamError) and error.status == 502 and error.code == "logto_bad_response"


def test_a_role_list_without_its_permissions_is_no_role_list(double):
    """An empty permission set read from a mangled answer would make every escalation and rank check pass."""
    register(double, "GET", "/resources", [{"id": "res", "indicator": "https://api"}])
    double.get(f"{API}/organization-roles", json=[{"id": "r1", "name": "admin", "type": "User"}])
    directory = RoleDirectory(management(double), "https://api", 60)
    with pytest.raises(NoAnswer) as lost:
        directory.fresh(D(5))
    assert lost.value.reason == "bad_answer"


def test_the_m2m_token_answer_must_carry_a_token(double):
    double.post(TOKEN, body=b"<html>gateway</html>", content_type="text/html")
    settings = load_settings({"LOGTO_ENDPOINT": double.url, "M2M_SECRET_ID": "s"})
    tokens = M2MTokenProvider(settings, HttpSender(sleep=lambda s: None), lambda force: M2MCredentials("app", "s"))
    with pytest.raises(UpstreamError) as error:
        tokens.token(D(5))
    assert error.value.code == "logto_bad_response"


def test_the_m2m_token_answer_compressed_is_read(serve):
    body = json.dumps({"access_token": "m2m-" + "x" * 1500, "expires_in": 3600, "scope": "all"}).encode()
    server = serve(lambda headers: http_response(gzip.compress(body), encoding="gzip"))
    settings = load_settings({"LOGTO_ENDPOINT": server.url, "M2M_SECRET_ID": "s"})
    tokens = M2MTokenProvider(settings, HttpSender(sleep=lambda s: None), lambda force: M2MCredentials("app", "s"))
    assert tokens.token(D(5)).startswith("m2m-")


def test_a_compressed_role_list_gives_the_roles_not_none(serve):
    """The bug seen on real Logto: a gzip role list read as None became "no roles", so every write was 403."""
    roles = json.loads(roles_body(30))
    resources = json.dumps([{"id": "res", "indicator": "https://api"}]).encode()
    token = json.dumps({"access_token": "m2m", "expires_in": 3600, "scope": "all"}).encode()

    paths = ["token", "resources", "roles"]  # the order the directory asks in

    def route(headers):
        path = paths.pop(0)
        if path == "token":
            return http_response(token)
        if path == "resources":
            return http_response(resources)
        return http_response(gzip.compress(json.dumps(roles).encode()), encoding="gzip")

    server = serve(route)
    settings = load_settings({"LOGTO_ENDPOINT": server.url, "M2M_SECRET_ID": "s"})
    tokens = M2MTokenProvider(settings, HttpSender(sleep=lambda s: None), lambda force: M2MCredentials("app", "s"))
    directory = RoleDirectory(ManagementApi(settings, HttpSender(sleep=lambda s: None), tokens), "https://api", 60)
    catalog = directory.fresh(D(10))
    assert len(catalog.roles) == 30 and catalog.roles[0].permissions == {"org:update"}


def test_jwks_asks_for_identity_and_refuses_a_compressed_key_set(serve):
    from orgapi.tokens.jwks import JwksUnavailable, fetch_jwks_document

    keys = json.dumps({"keys": [{"kty": "EC", "crv": "P-384", "kid": "k" * 1200}]}).encode()
    server = serve(lambda headers: http_response(gzip.compress(keys), encoding="gzip"))
    with pytest.raises(JwksUnavailable):
        fetch_jwks_document(server.url, 5)
    assert server.seen[0]["accept-encoding"] == "identity"
    plain = serve(lambda headers: http_response(keys))
    assert fetch_jwks_document(plain.url, 5) == json.loads(keys)


@pytest.mark.parametrize(
    ("shape", "body", "conforms"),
    [
        (shapes.Organization, {"id": "o1"}, True),  # name may be absent (only the id is needed to act on it)
        (shapes.Organization, {"id": "o1", "name": None, "extra": [1]}, True),  # Logto's other fields pass
        (shapes.Organization, {"id": "o1", "name": 5}, False),  # present, of the wrong type
        (shapes.Organization, {"id": None}, False),
        (shapes.Organization, {"id": b"o1"}, False),
        (shapes.ResourceScope, {"id": "s", "name": "n", "resource": {"id": "r"}}, True),  # inherited fields too
        (shapes.ResourceScope, {"id": "s", "name": "n", "resource": {"indicator": "https://api"}}, False),
        (shapes.ResourceScope, {"id": "s", "resource": {"id": "r"}}, False),
        (
            shapes.OrganizationRole,
            {"id": "r", "name": "n", "scopes": [{"id": "s", "name": "x"}], "resourceScopes": []},
            True,
        ),
        (shapes.OrganizationRole, {"id": "r", "name": "n", "scopes": [{"id": "s"}], "resourceScopes": []}, False),
        (shapes.OrganizationRole, {"id": "r", "name": "n", "scopes": {}, "resourceScopes": []}, False),
        (list[shapes.Member], [], True),
        (
            list[shapes.Member],
            [{"id": "u", "organizationRoles": [{"id": "r"}]}, {"id": "v", "organizationRoles": []}],
            True,
        ),
        (list[shapes.Member], [{"id": "u", "organizationRoles": [None]}], False),
        (list[shapes.Member], {"id": "u", "organizationRoles": []}, False),
        (shapes.Member, [{"id": "u", "organizationRoles": []}], False),
    ],
)
def test_an_answer_conforms_to_its_shape_field_by_field(shape, body, conforms):
    if conforms:
        assert shapes.check(shape, body) is body  # unchanged: the caller reads Logto's own answer
    else:
        with pytest.raises(shapes.Malformed):
            shapes.check(shape, body)


def _pydantic_core_validator(kind: Any):
    """What the shapes were checked with before (strict pydantic-core, other fields allowed): the reference."""
    import types as pytypes
    from typing import Union, get_args, get_origin, get_type_hints

    from pydantic_core import SchemaValidator, core_schema

    def schema(kind: Any) -> Any:
        if kind is str:
            return core_schema.str_schema(strict=True)
        if get_origin(kind) is list:
            return core_schema.list_schema(schema(get_args(kind)[0]), strict=True)
        if get_origin(kind) in (Union, pytypes.UnionType):
            (inner,) = [arg for arg in get_args(kind) if arg is not type(None)]
            return core_schema.nullable_schema(schema(inner))
        fields = {
            name: core_schema.typed_dict_field(schema(hint), required=not hasattr(kind, name))
            for name, hint in get_type_hints(kind).items()
        }
        return core_schema.typed_dict_schema(fields, extra_behavior="allow", strict=True)

    return SchemaValidator(schema(kind))


def _mutations(value: Any, rng) -> Any:
    """`value` with random damage: a field dropped, nulled, retyped or added, a list item replaced, a container swapped."""
    if isinstance(value, dict) and value:
        name = rng.choice(sorted(value))
        choice = rng.randrange(6)
        if choice == 0:
            return {k: v for k, v in value.items() if k != name}
        if choice == 1:
            return {**value, name: rng.choice([None, 7, True, 1.5, [], {}, "s"])}
        if choice == 2:
            return {**value, name: _mutations(value[name], rng)}
        if choice == 3:
            return {**value, "extra": rng.choice([None, 1, "x", [1]])}
        if choice == 4:
            return [value]
        return value
    if isinstance(value, list):
        if value and rng.random() < 0.7:
            index = rng.randrange(len(value))
            return [*value[:index], _mutations(value[index], rng), *value[index + 1 :]]
        return rng.choice([[], {}, None, value + value])
    return rng.choice([None, 1, False, "s", [], {"id": "x"}])


# The shape each reader holds Logto's answer to (orgapi.logto.management).
_SHAPES_BY_READER: dict[str, Any] = {
    "create_organization": shapes.Organization,
    "get_organization": shapes.Organization,
    "update_organization": shapes.Organization,
    "search_organizations": list[shapes.Organization],
    "get_user": shapes.Identified,
    "user_organizations": list[shapes.UserOrganization],
    "list_members": list[shapes.Member],
    "membership": list[shapes.Identified],
    "application_membership": list[shapes.Identified],
    "user_role_ids": list[shapes.Identified],
    "role_scopes": list[shapes.ResourceScope],
    "resource_id": list[shapes.ResourceRef],
    "organization_roles": list[shapes.OrganizationRole],
    "list_invitations": list[shapes.Invitation],
    "create_invitation": shapes.Invitation,
    "get_invitation": shapes.Invitation,
    "accept_invitation": shapes.Invitation,
    "revoke_invitation": shapes.Invitation,
}


def test_shapes_accept_exactly_what_strict_pydantic_core_accepted():
    """The hand-written check (orgapi.logto.shapes) against the library it replaced, on good answers and thousands of
    damaged ones: the same verdict on every one."""
    import random

    rng = random.Random(22)
    goods = [(name, good) for name, _, _, _, good in READERS]
    verdicts = {True: 0, False: 0}
    for name, good in goods:
        shape = _SHAPES_BY_READER[name]
        reference = _pydantic_core_validator(shape)
        for _ in range(400):
            body = good
            for _ in range(rng.randrange(1, 4)):
                body = _mutations(body, rng)
            try:
                reference.validate_python(body)
                expected = True
            except Exception:
                expected = False
            try:
                shapes.check(shape, body)
                actual = True
            except shapes.Malformed:
                actual = False
            assert actual == expected, (name, body)
            verdicts[actual] += 1
    assert min(verdicts.values()) > 400 * len(goods) // 10, verdicts  # both verdicts, often: damage that passes too
