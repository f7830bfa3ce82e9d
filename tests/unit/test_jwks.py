"""JWKS cache: max age, unknown-kid cooldown, failure backoff, stale grace, single flight, hostile key sets."""

from __future__ import annotations

import threading
import time

import pytest

from orgapi.tokens.jwks import JwksCache, JwksUnavailable, parse_jwks
from tests.support.jwt_factory import SigningKey
from tests.support.verifier import Clock, FakeJwksServer

KEY = SigningKey.generate("k1")
RSA = SigningKey.generate("r1", "RS256")


def cache(server, clock, **kw):
    options = dict(max_age=300, cooldown=30, stale_grace=3600)
    options.update(kw)
    return JwksCache("https://t/oidc/jwks", fetch=server, clock=clock, **options)


def test_key_set_is_fetched_once_and_reused():
    server, clock = FakeJwksServer([KEY.public_jwk()]), Clock()
    c = cache(server, clock)
    for _ in range(100):
        assert c.key_for("k1").algorithm == "ES384"
    assert server.fetches == 1


def test_key_set_is_refetched_after_max_age_so_deleted_keys_stop_verifying():
    server, clock = FakeJwksServer([KEY.public_jwk()]), Clock()
    c = cache(server, clock)
    assert c.key_for("k1")
    server.keys = []
    clock.now += 299
    assert c.key_for("k1")  # still trusted within max age
    clock.now += 2
    assert c.key_for("k1") is None
    assert server.fetches == 2


def test_stale_set_survives_a_short_outage_then_fails_closed():
    server, clock = FakeJwksServer([KEY.public_jwk()]), Clock()
    c = cache(server, clock, stale_grace=600)
    assert c.key_for("k1")
    server.fail = True
    clock.now += 301
    assert c.key_for("k1")  # stale but inside grace
    fetches = server.fetches
    for _ in range(20):
        assert c.key_for("k1")
    assert server.fetches == fetches  # failure backoff: no fetch per request during the outage
    clock.now += 600
    with pytest.raises(JwksUnavailable):
        c.key_for("k1")


def test_unreachable_jwks_on_cold_start_is_unavailable_not_unknown():
    server, clock = FakeJwksServer([KEY.public_jwk()], fail=True), Clock()
    c = cache(server, clock)
    with pytest.raises(JwksUnavailable):
        c.key_for("k1")
    with pytest.raises(JwksUnavailable):
        c.key_for("k1")
    assert server.fetches == 1  # the second call waited out the cooldown instead of fetching
    server.fail = False
    clock.now += 31
    assert c.key_for("k1")


def test_rotation_new_kid_right_after_a_fetch_is_found():
    server, clock = FakeJwksServer([KEY.public_jwk()]), Clock()
    c = cache(server, clock)
    assert c.key_for("k1")
    server.keys.append(RSA.public_jwk())
    assert c.key_for("r1").algorithm == "RS256"  # the first unknown kid may refresh at once
    assert server.fetches == 2


def test_concurrent_unknown_kid_refresh_is_single_flight():
    calls = []

    def slow_fetch(url, timeout):
        calls.append(1)
        time.sleep(0.05)
        return {"keys": [KEY.public_jwk()]}

    c = JwksCache("u", max_age=300, cooldown=30, stale_grace=0, fetch=slow_fetch)
    threads = [threading.Thread(target=c.key_for, args=("k1",)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1


def test_hostile_key_sets():
    ec = KEY.public_jwk()
    skipped = []
    good_point = dict(ec)
    off_curve = dict(ec, kid="off", y=SigningKey.generate("z").public_jwk()["y"])
    keys = parse_jwks(
        {
            "keys": [
                RSA.public_jwk(),  # an RSA key before the EC key must not break EC verification
                off_curve,
                dict(ec, kid="p256-labelled", crv="P-256"),
                dict(ec, kid="wrong-alg", alg="ES256"),
                dict(ec, kid="enc", use="enc"),
                dict(ec, kid="private", d="AAAA"),
                {"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"},
                dict(ec, kid="dup"),
                dict(ec, kid="dup"),
                {"kid": 5},
                "not-an-object",
                good_point,
            ]
        },
        on_skip=lambda kid, reason: skipped.append((kid, reason)),
    )
    assert set(keys) == {"r1", "k1"}
    reasons = dict(skipped)
    assert reasons["off"] == "invalid_key"
    assert reasons["p256-labelled"] in ("invalid_key", "unsupported_key")
    assert reasons["wrong-alg"] == "unsupported_key"
    assert reasons["enc"] == "not_a_signing_key"
    assert reasons["private"] == "not_a_public_key"
    assert reasons["hmac"] == "not_a_public_key"
    assert reasons["dup"] == "duplicate_kid"


def test_small_rsa_keys_are_refused():
    from cryptography.hazmat.primitives.asymmetric import rsa

    weak = SigningKey("weak", "RS256", rsa.generate_private_key(public_exponent=65537, key_size=1024))
    assert parse_jwks({"keys": [weak.public_jwk()]}) == {}


@pytest.mark.parametrize("document", [None, [], {"keys": "x"}, {"nokeys": []}])
def test_not_a_jwks_document(document):
    with pytest.raises(ValueError):
        parse_jwks(document)


def test_prefetch_loads_the_set_and_survives_an_outage():
    server, clock = FakeJwksServer([KEY.public_jwk()]), Clock()
    c = cache(server, clock)
    assert c.prefetch() is True
    assert c.key_for("k1") and server.fetches == 1  # the first request needs no fetch
    flaky = FakeJwksServer([KEY.public_jwk()], fail=True)
    down = cache(flaky, Clock())
    assert down.prefetch() is False  # not fatal at init
    flaky.fail = False
    assert down.key_for("k1")  # and the first request tries again at once


@pytest.mark.parametrize("bits,usable", [(2040, False), (2047, False), (2048, True), (3072, True)])
def test_rsa_size_is_the_modulus_bit_length(bits, usable):
    """Finding 8: the size used to be estimated from the base64 length, so a 2040-bit modulus passed "≥ 2048"."""
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = SigningKey("k", "RS256", rsa.generate_private_key(public_exponent=65537, key_size=bits))
    skipped = []
    keys = parse_jwks({"keys": [key.public_jwk()]}, lambda kid, reason: skipped.append(reason))
    assert ("k" in keys) == usable and skipped == ([] if usable else ["unsupported_key"])


def test_leading_zero_bytes_do_not_make_a_small_modulus_big():
    import base64

    from cryptography.hazmat.primitives.asymmetric import rsa

    key = SigningKey("k", "RS256", rsa.generate_private_key(public_exponent=65537, key_size=1024))
    jwk = key.public_jwk()
    n = base64.urlsafe_b64decode(jwk["n"] + "==")
    jwk["n"] = base64.urlsafe_b64encode(b"\0" * 160 + n).rstrip(b"=").decode()
    assert parse_jwks({"keys": [jwk]}) == {}
