"""Attack catalogue against the token verifier (notes/security.md §1.3). Every rejection must be a TokenRejected
(-> 401), never another exception type, and never a verified token."""

from __future__ import annotations

import hashlib
import json
import time

import pytest

from orgapi.contract.kinds import TokenKind
from orgapi.tokens.verify import TokenRejected
from tests.support.jwt_factory import (
    API_RESOURCE,
    DROP,
    ISSUER,
    ORG,
    SigningKey,
    b64u,
    claims,
    forge,
    hmac_signer,
    segment,
    token,
)
from tests.support.verifier import Clock, make_verifier

ES384 = SigningKey.generate("k-es384")
RS256 = SigningKey.generate("k-rs256", "RS256")
ATTACKER = SigningKey.generate("k-es384")  # same kid as the real key, different key pair


@pytest.fixture
def setup():
    return make_verifier([ES384, RS256])


def bearer(tok: str) -> str:
    return f"Bearer {tok}"


def rejected(verifier, authorization, reason=None):
    with pytest.raises(TokenRejected) as info:
        verifier.verify(authorization)
    if reason:
        assert info.value.reason == reason
    return info.value.reason


def test_valid_es384_organization_token(setup):
    verifier, _, _ = setup
    verified = verifier.verify(bearer(token(ES384)))
    assert verified.kind is TokenKind.ORGANIZATION
    assert verified.organization_id == ORG
    assert verified.subject == "user1"
    assert verified.scopes == {"member:read", "member:invite"}


def test_valid_rs256_token_after_rotation(setup):
    verifier, _, _ = setup
    assert verifier.verify(bearer(token(RS256))).organization_id == ORG


@pytest.mark.parametrize("alg", ["ES256", "ES512"])
def test_other_ec_curves_verify_with_their_own_algorithm(alg):
    key = SigningKey.generate(f"k-{alg}", alg)
    verifier, _, _ = make_verifier([key])
    assert verifier.verify(bearer(token(key))).kind is TokenKind.ORGANIZATION


# A. algorithm ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
@pytest.mark.parametrize("keep_signature", [False, True])
def test_alg_none_in_every_spelling(setup, alg, keep_signature):
    verifier, _, _ = setup
    real = token(ES384)
    forged = forge({"alg": alg, "typ": "at+jwt", "kid": ES384.kid}, claims())
    if keep_signature:
        forged += real.rsplit(".", 1)[1]
    rejected(verifier, bearer(forged))


@pytest.mark.parametrize("alg", [DROP, "", None, ["ES384"], {"a": 1}, "es384", "ES384 ", "PS384", "EdDSA", 384])
def test_alg_missing_or_odd(setup, alg):
    verifier, _, _ = setup
    rejected(verifier, bearer(token(ES384, alg=alg)), "alg_not_allowed")


@pytest.mark.parametrize("hs", [("HS256", hashlib.sha256), ("HS384", hashlib.sha384), ("HS512", hashlib.sha512)])
def test_hmac_signed_with_the_public_key_in_every_encoding(setup, hs):
    verifier, _, _ = setup
    alg, digest = hs
    jwk_text = json.dumps(ES384.public_jwk()).encode()
    secrets = [
        ES384.public_pem(),
        ES384.public_pem().strip(),
        ES384.public_der(),
        jwk_text,
        ES384.public_jwk()["x"].encode(),
        b"",
    ]
    for secret in secrets:
        forged = forge({"alg": alg, "typ": "at+jwt", "kid": ES384.kid}, claims(), hmac_signer(secret, digest))
        rejected(verifier, bearer(forged), "alg_not_allowed")


def test_rs256_header_with_ec_kid_is_refused(setup):
    verifier, _, _ = setup
    attacker_rsa = SigningKey.generate(ES384.kid, "RS256")
    rejected(verifier, bearer(token(attacker_rsa)), "alg_key_mismatch")


def test_es256_header_against_p384_key(setup):
    verifier, _, _ = setup
    attacker = SigningKey.generate(ES384.kid, "ES256")
    rejected(verifier, bearer(token(attacker)), "alg_key_mismatch")


def test_es512_header_over_real_es384_signature(setup):
    verifier, _, _ = setup
    real_sig = token(ES384).rsplit(".", 1)[1]
    forged = forge({"alg": "ES512", "typ": "at+jwt", "kid": ES384.kid}, claims()) + real_sig
    rejected(verifier, bearer(forged), "alg_key_mismatch")


def test_es384_header_with_rsa_kid(setup):
    verifier, _, _ = setup
    forged = forge({"alg": "ES384", "typ": "at+jwt", "kid": RS256.kid}, claims(), ES384.sign)
    rejected(verifier, bearer(forged), "alg_key_mismatch")


# B. signature ------------------------------------------------------------------------------------------------------


def test_attacker_key_with_real_kid(setup):
    verifier, _, _ = setup
    rejected(verifier, bearer(token(ATTACKER)), "bad_signature")


def test_truncated_flipped_and_empty_signatures(setup):
    verifier, _, _ = setup
    good = token(ES384)
    head, sig = good.rsplit(".", 1)
    flipped = sig[:10] + ("A" if sig[10] != "A" else "B") + sig[11:]
    for variant in (head + "." + sig[:-4], head + "." + flipped, head + "."):
        rejected(verifier, bearer(variant))


@pytest.mark.parametrize(
    "raw",
    [
        bytes(96),
        (0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC7634D81F4372DDF581A0DB248B0A77AECEC196ACCC52973).to_bytes(
            48, "big"
        )
        * 2,
        bytes(47) + b"\x01" + bytes(48),
        b"\xff" * 96,
        bytes(95),
        bytes(97),
    ],
)
def test_psychic_and_malformed_ecdsa_signatures(setup, raw):
    verifier, _, _ = setup
    forged = forge({"alg": "ES384", "typ": "at+jwt", "kid": ES384.kid}, claims()) + b64u(raw)
    rejected(verifier, bearer(forged))


@pytest.mark.parametrize(
    "mangle",
    [
        lambda s: s.replace("-", "+").replace("_", "/") if ("-" in s or "_" in s) else s + "+",
        lambda s: s + "==",
        lambda s: s + "$$",
        lambda s: s[:20] + "\n" + s[20:],
    ],
)
def test_non_canonical_signature_encoding(setup, mangle):
    verifier, _, _ = setup
    head, sig = token(ES384).rsplit(".", 1)
    rejected(verifier, bearer(head + "." + mangle(sig)))


def test_signature_with_trailing_bits_is_not_canonical(setup):
    verifier, _, _ = setup
    head, sig = token(ES384).rsplit(".", 1)
    # 128 chars encode 96 bytes exactly; change the last char within the same 6-bit group meaning? Make an extra char.
    rejected(verifier, bearer(head + "." + sig + "A"), "malformed")


# C. key selection and embedded keys -----------------------------------------------------------------------------------


def test_missing_kid(setup):
    verifier, _, _ = setup
    rejected(verifier, bearer(token(ES384, kid=DROP)), "missing_kid")


@pytest.mark.parametrize("kid", [1, None, [], {}, "", "x" * 300])
def test_kid_not_a_usable_string(setup, kid):
    verifier, _, _ = setup
    rejected(verifier, bearer(token(ES384, kid=kid)), "missing_kid")


def test_unknown_kid_refreshes_once_then_rejects(setup):
    verifier, server, _ = setup
    verifier.verify(bearer(token(ES384)))
    assert server.fetches == 1
    stranger = SigningKey.generate("nope")
    rejected(verifier, bearer(token(stranger)), "unknown_kid")
    assert server.fetches == 2
    # Within the cooldown a flood of random kids costs no further fetch.
    for i in range(50):
        rejected(verifier, bearer(token(SigningKey.generate(f"random-{i}"))), "unknown_kid")
    assert server.fetches == 2


def test_unknown_kid_after_cooldown_fetches_again_and_finds_rotated_key(setup):
    verifier, server, clock = setup
    verifier.verify(bearer(token(ES384)))
    rotated = SigningKey.generate("k-new")
    rejected(verifier, bearer(token(rotated)), "unknown_kid")  # not yet published
    server.keys.append(rotated.public_jwk())
    clock.now += 31
    assert verifier.verify(bearer(token(rotated, {"iat": int(clock.now), "exp": int(clock.now) + 3600}))).subject
    assert server.fetches == 3


@pytest.mark.parametrize(
    "kid", ["../../../../../../dev/null", "/dev/null", "|sleep 10", "x' UNION SELECT '1';--", "a\r\nb"]
)
def test_kid_injection_with_hmac(setup, kid):
    verifier, server, _ = setup
    for secret in (b"", b"1"):
        forged = forge({"alg": "HS256", "typ": "at+jwt", "kid": kid}, claims(), hmac_signer(secret))
        rejected(verifier, bearer(forged), "alg_not_allowed")
    assert server.fetches == 0


@pytest.mark.parametrize("header_key", ["jku", "x5u"])
def test_jku_and_x5u_are_never_dereferenced(setup, header_key):
    verifier, server, _ = setup
    forged = token(ATTACKER, **{header_key: "https://evil.example/jwks.json"})
    rejected(verifier, bearer(forged), "bad_signature")
    assert server.urls == [
        f"{ISSUER}/jwks"
    ]  # only the configured JWKS was fetched (and the socket guard blocks others)


def test_embedded_jwk_is_ignored(setup):
    verifier, _, _ = setup
    forged = token(ATTACKER, jwk=ATTACKER.public_jwk())
    rejected(verifier, bearer(forged), "bad_signature")


def test_embedded_x5c_is_ignored(setup):
    verifier, _, _ = setup
    rejected(verifier, bearer(token(ATTACKER, x5c=["MIIB..."])), "bad_signature")


# D. header semantics -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "extra",
    [
        {"crit": ["exp"]},
        {"crit": ["x-unknown"], "x-unknown": 1},
        {"crit": ""},
        {"crit": []},
        {"b64": False, "crit": ["b64"]},
    ],
)
def test_crit_and_b64_are_refused(setup, extra):
    verifier, _, _ = setup
    rejected(verifier, bearer(token(ES384, **extra)), "unsupported_header")


@pytest.mark.parametrize("typ", ["JOSE", "logout+jwt", "secevent+jwt", "dpop+jwt", 5])
def test_wrong_typ(setup, typ):
    verifier, _, _ = setup
    rejected(verifier, bearer(token(ES384, typ=typ)), "wrong_type")


@pytest.mark.parametrize("typ", ["at+jwt", "application/at+jwt", "JWT", DROP])
def test_accepted_typ(setup, typ):
    verifier, _, _ = setup
    assert verifier.verify(bearer(token(ES384, typ=typ)))


def test_duplicate_header_members_are_refused(setup):
    verifier, _, _ = setup
    raw_header = b64u(b'{"alg":"none","typ":"at+jwt","kid":"k-es384","alg":"ES384"}')
    rejected(verifier, bearer(forge(raw_header, claims(), ES384.sign)), "malformed")


def test_nested_jwt_payload(setup):
    verifier, _, _ = setup
    inner = token(ES384)
    forged = forge({"alg": "ES384", "typ": "at+jwt", "kid": ES384.kid, "cty": "JWT"}, b64u(inner.encode()), ES384.sign)
    rejected(verifier, bearer(forged), "malformed")


# E. time claims ------------------------------------------------------------------------------------------------------


def _at(clock: Clock, **overrides):
    return bearer(token(ES384, overrides))


def test_expired_and_the_exact_boundary(setup):
    verifier, _, clock = setup
    now = int(clock.now)
    rejected(verifier, bearer(token(ES384, {"iat": now - 3600, "exp": now - 1})), "expired")
    clock.now = now
    rejected(verifier, bearer(token(ES384, {"iat": now - 3600, "exp": now})), "expired")  # exp == now is expired
    assert verifier.verify(bearer(token(ES384, {"iat": now - 3600, "exp": now + 1})))


def test_exp_is_required_iat_is_not(setup):
    verifier, _, _ = setup
    rejected(verifier, bearer(token(ES384, {"exp": DROP})), "invalid_claims")
    assert verifier.verify(bearer(token(ES384, {"iat": DROP})))  # the contract only bounds iat when present
    rejected(verifier, bearer(token(ES384, {"iat": DROP, "exp": int(time.time()) + 90000})), "invalid_claims")


@pytest.mark.parametrize("value", ["9999999999", True, None, [9999999999], {"v": 1}])
def test_exp_wrong_types(setup, value):
    verifier, _, _ = setup
    rejected(verifier, bearer(token(ES384, {"exp": value})), "invalid_claims")


@pytest.mark.parametrize("raw", ["1e400", "NaN", "Infinity"])
def test_exp_non_finite(setup, raw):
    verifier, _, _ = setup
    body = json.dumps(claims(exp=0)).replace('"exp":0', f'"exp":{raw}').replace('"exp": 0', f'"exp": {raw}')
    forged = forge({"alg": "ES384", "typ": "at+jwt", "kid": ES384.kid}, b64u(body.encode()), ES384.sign)
    rejected(verifier, bearer(forged))


def test_nbf_and_iat_in_the_future(setup):
    verifier, _, clock = setup
    now = int(clock.now)
    assert verifier.verify(bearer(token(ES384, {"nbf": now + 59})))
    rejected(verifier, bearer(token(ES384, {"nbf": now + 61})), "not_yet_valid")
    assert verifier.verify(bearer(token(ES384, {"iat": now + 59})))
    rejected(verifier, bearer(token(ES384, {"iat": now + 61, "exp": now + 3600})), "not_yet_valid")
    rejected(verifier, bearer(token(ES384, {"nbf": "0"})), "invalid_claims")
    rejected(verifier, bearer(token(ES384, {"nbf": None})), "invalid_claims")
    rejected(verifier, bearer(token(ES384, {"iat": "0"})), "invalid_claims")
    rejected(verifier, bearer(token(ES384, {"iat": None})), "invalid_claims")


def test_absurd_lifetime(setup):
    verifier, _, _ = setup
    rejected(verifier, bearer(token(ES384, {"exp": 2**70})), "invalid_claims")
    rejected(verifier, bearer(token(ES384, {"iat": 0})), "invalid_claims")


# F. issuer, audience, subject, kind -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "iss",
    [
        "https://evil.logto.app/oidc",
        ISSUER + "/",
        ISSUER.upper(),
        ISSUER.replace("https", "http"),
        [ISSUER],
        DROP,
        "",
        "https://tenant.logto.app",
    ],
)
def test_wrong_issuer(setup, iss):
    verifier, _, _ = setup
    rejected(verifier, bearer(token(ES384, {"iss": iss})), "wrong_issuer")


@pytest.mark.parametrize(
    "aud",
    [
        DROP,
        [],
        123,
        "https://other.example",
        "URN:LOGTO:ORGANIZATION:org1abc",
        "urn:logto:organization",
        ["urn:logto:organization:a", "urn:logto:organization:b"],
        [f"urn:logto:organization:{ORG}", "https://other"],
        "app-client-id",
    ],
)
def test_wrong_audience(setup, aud):
    verifier, _, _ = setup
    rejected(verifier, bearer(token(ES384, {"aud": aud})))


def test_single_element_audience_list_is_the_same_audience(setup):
    verifier, _, _ = setup
    assert verifier.verify(bearer(token(ES384, {"aud": [f"urn:logto:organization:{ORG}"]}))).organization_id == ORG


@pytest.mark.parametrize("org", ["*", "", "a/b", "a..b", "%2F", "x" * 65, "a b", "a*", "ä", "org1\n"])
def test_organization_id_that_could_widen_a_policy(setup, org):
    verifier, _, _ = setup
    rejected(verifier, bearer(token(ES384, {"aud": f"urn:logto:organization:{org}"})))
    rejected(verifier, bearer(token(ES384, {"aud": API_RESOURCE, "organization_id": org})))


def test_organization_id_claim_on_an_organization_token_must_match_its_audience(setup):
    """A tenant's JWT customizer may add organization_id to an organization token: accepted when it names the `aud`
    organization, refused when it names another (which of the two would the policy be for?)."""
    verifier, _, _ = setup
    verified = verifier.verify(bearer(token(ES384, {"organization_id": ORG})))
    assert (verified.kind, verified.organization_id) == (TokenKind.ORGANIZATION, ORG)
    rejected(verifier, bearer(token(ES384, {"organization_id": "otherorg0001"})), "wrong_audience")
    rejected(verifier, bearer(token(ES384, {"organization_id": 5})), "wrong_audience")


@pytest.mark.parametrize("value", [None, 5, ["org1abc"]])
def test_organization_id_claim_of_wrong_type(setup, value):
    verifier, _, _ = setup
    rejected(verifier, bearer(token(ES384, {"aud": API_RESOURCE, "organization_id": value})), "bad_organization_id")


def test_token_kinds(setup):
    verifier, _, _ = setup
    org_api = verifier.verify(bearer(token(ES384, {"aud": API_RESOURCE, "organization_id": ORG})))
    assert (org_api.kind, org_api.organization_id) == (TokenKind.ORGANIZATION_API, ORG)
    global_api = verifier.verify(bearer(token(ES384, {"aud": API_RESOURCE, "scope": "org:create"})))
    assert (global_api.kind, global_api.organization_id) == (TokenKind.GLOBAL_API, None)


@pytest.mark.parametrize("sub", [DROP, "", 123, None, "x" * 300])
def test_subject(setup, sub):
    verifier, _, _ = setup
    rejected(verifier, bearer(token(ES384, {"sub": sub})), "invalid_claims")


# G. scope string -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "scope,expected",
    [
        ("org:create2", {"org:create2"}),
        ("read:members,invite:member", {"read:members,invite:member"}),
        ("a\tb", {"a\tb"}),
        ("a  a", {"a"}),
        (" a ", {"a"}),
        ("", set()),
        (DROP, set()),
        (None, set()),  # null is "no permissions", like a missing claim
    ],
)
def test_scope_parsing_is_exact_and_space_separated(setup, scope, expected):
    verifier, _, _ = setup
    assert verifier.verify(bearer(token(ES384, {"scope": scope}))).scopes == expected


@pytest.mark.parametrize("scope", [["member:read"], 7, {}, True])
def test_scope_of_wrong_type(setup, scope):
    verifier, _, _ = setup
    rejected(verifier, bearer(token(ES384, {"scope": scope})), "invalid_claims")


def test_only_the_scope_claim_is_read(setup):
    verifier, _, _ = setup
    assert (
        verifier.verify(bearer(token(ES384, {"scope": DROP, "scp": "org:create", "scopes": "org:create"}))).scopes
        == set()
    )


# H. format, encoding, size -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        "bearer {t}",
        "Basic {t}",
        "Bearer {t}, Bearer {t}",
        " Bearer {t}",
        "Bearer {t} ",
        "Bearer  {t}",
        "{t}",
    ],
)
def test_authorization_header_shapes(setup, authorization):
    verifier, _, _ = setup
    value = authorization.format(t=token(ES384)) if authorization is not None else None
    rejected(verifier, value)


@pytest.mark.parametrize("tok", ["a.b", "a.b.c.d", "a.b.c.d.e", "..", "", "é.b.c"])
def test_segment_counts_and_characters(setup, tok):
    verifier, _, _ = setup
    rejected(verifier, bearer(tok))


@pytest.mark.parametrize(
    "header", ["!!!!", b64u(b"not json"), b64u(b"[1,2]"), b64u(b"\xff\xfe{"), b64u('{"alg":"ES384"}'.encode("utf-16"))]
)
def test_garbage_headers(setup, header):
    verifier, _, _ = setup
    rejected(verifier, bearer(header + "." + segment(claims()) + ".AAAA"))


def test_deeply_nested_header_is_a_401_not_a_crash(setup):
    verifier, _, _ = setup
    header = b64u(('{"alg":"ES384","x":' + "[" * 1000 + "]" * 1000 + "}").encode())
    rejected(verifier, bearer(header + "." + segment(claims()) + ".AAAA"), "malformed")


def test_deeply_nested_payload_after_a_valid_signature(setup):
    verifier, _, _ = setup
    payload = b64u(("[" * 5000 + "]" * 5000).encode())
    rejected(verifier, bearer(forge({"alg": "ES384", "typ": "at+jwt", "kid": ES384.kid}, payload, ES384.sign)))


def test_oversized_tokens(setup):
    verifier, server, _ = setup
    big = token(ES384, {"pad": "x" * 9000})
    rejected(verifier, bearer(big), "malformed")
    rejected(verifier, "Bearer " + "a" * 400_000, "malformed")
    assert server.fetches == 0  # refused before any key lookup


def test_json_serialization_instead_of_compact(setup):
    verifier, _, _ = setup
    rejected(verifier, bearer(json.dumps({"payload": "x", "protected": "y", "signature": "z"})))


@pytest.mark.parametrize("payload", [b"[1]", b"null", b"\xff\xfe", b"NaN", b'"text"'])
def test_payload_shapes_with_valid_signature(setup, payload):
    verifier, _, _ = setup
    rejected(verifier, bearer(forge({"alg": "ES384", "typ": "at+jwt", "kid": ES384.kid}, b64u(payload), ES384.sign)))


# I. JWE -------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "header", [{"alg": "RSA-OAEP", "enc": "A256GCM"}, {"alg": "dir", "enc": "A128GCM", "zip": "DEF"}]
)
def test_jwe_shaped_tokens(setup, header):
    verifier, _, _ = setup
    five = ".".join([segment(header), "", b64u(b"iv" * 6), b64u(b"ciphertext"), b64u(b"tag" * 5)])
    rejected(verifier, bearer(five))
    three = forge({**header, "kid": ES384.kid}, claims(), ES384.sign)
    rejected(verifier, bearer(three), "alg_not_allowed")


# Clock injection sanity: the verifier uses the injected clock, not wall time.
def test_clock_is_injected():
    clock = Clock(now=time.time() + 7200)
    verifier, _, _ = make_verifier([ES384], clock=clock)
    with pytest.raises(TokenRejected):
        verifier.verify(bearer(token(ES384)))  # valid by wall time, expired by the injected clock


def test_base64url_decoding_accepts_exactly_the_canonical_spelling():
    """Every last character of every length: accepted iff re-encoding the decoded bytes gives the same text."""
    import base64
    import os

    from orgapi.tokens.verify import _b64url_decode

    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    for length in range(1, 40):
        segment = b64u(os.urandom(length))
        assert _b64url_decode(segment) == base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
        for last in alphabet:
            variant = segment[:-1] + last
            decoded = base64.urlsafe_b64decode(variant + "=" * (-len(variant) % 4))
            canonical = b64u(decoded) == variant
            try:
                _b64url_decode(variant)
                accepted = True
            except TokenRejected:
                accepted = False
            assert accepted is canonical, variant


def test_random_mutations_only_ever_give_token_rejected(setup):
    """3000 seeded random edits of a valid token (flip, drop, insert, swap segments): each is either refused with
    TokenRejected — never another exception — or is byte-for-byte the original token."""
    import random

    verifier, _, _ = setup
    original = token(ES384)
    rng = random.Random(20261124)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ \x00é"
    for _ in range(3000):
        chars = list(original)
        for _ in range(rng.randint(1, 3)):
            op, i = rng.random(), rng.randrange(len(chars))
            if op < 0.4:
                chars[i] = rng.choice(alphabet)
            elif op < 0.7:
                del chars[i]
            else:
                chars.insert(i, rng.choice(alphabet))
        mutated = "".join(chars)
        if mutated == original:
            continue
        try:
            verifier.verify(bearer(mutated))
        except TokenRejected:
            continue
        raise AssertionError(f"mutation accepted: {mutated}")
