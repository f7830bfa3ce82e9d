"""What the authorizer's cold start imports (issue 22): modules, not milliseconds (the figures are in `make bench`).

Each test runs a fresh interpreter, as Lambda's init does, and reads `sys.modules`: a later change that brings a heavy
module back into the authorizer's import graph fails here, whatever the machine's speed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Never needed to verify a token from a JWK and build a policy. (botocore's package itself is imported by Powertools'
# user-agent hook, which checks whether boto is there; a session or client never is.)
HEAVY = (
    "cryptography.x509",  # python-jose's PEM-certificate support (orgapi.tokens.jose_backend keeps it out)
    "cryptography.hazmat.primitives.serialization",  # PEM and SSH key parsing, likewise
    "urllib.request",  # the JWKS fetch imports it when it fetches
    "http.client",
    "ssl",
    "pydantic",
    "requests",
    "urllib3",
    "boto3",
    "botocore.session",
    "botocore.client",
    "jose.backends.ecdsa_backend",  # the pure-python fallback: never, with cryptography present
    "jose.backends.rsa_backend",
    "jmespath",  # Powertools' Logger's correlation_id_path, never passed (orgapi.base.observability spares it)
    "typing_extensions",  # (only jmespath_utils brought it into the authorizer)
    "importlib.metadata",
)


def fresh_interpreter(code: str, function: str = "authorizer") -> dict:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "functions" / function), str(ROOT / "layers" / "common")]),
        "LOGTO_ENDPOINT": "https://tenant.logto.app",
        "API_RESOURCE": "https://api.example.com/org",
        "M2M_SECRET_ID": "m2m",  # (an operation's configuration; the authorizer ignores it)
        "CLEANUP_TABLE": "cleanups",
        "AWS_DEFAULT_REGION": "eu-west-1",
    }
    env.pop("AWS_LAMBDA_FUNCTION_NAME", None)  # no JWKS prefetch: the import alone
    out = subprocess.run(
        [sys.executable, "-P", "-c", code], env=env, cwd=ROOT / "functions" / function, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def loaded(names: tuple[str, ...]) -> str:
    return (
        "import json, sys\n"
        f"print(json.dumps(sorted(m for m in sys.modules for h in {list(names)!r} if m == h or m.startswith(h + '.'))))"
    )


def test_the_authorizer_imports_no_heavy_module():
    assert fresh_interpreter("import app\n" + loaded(HEAVY)) == []


def test_python_jose_verifies_with_the_cryptography_backend():
    """The verifier is still python-jose, on cryptography (not its pure-python fallbacks)."""
    code = (
        "import app, json, sys\n"
        "from orgapi.tokens import jose_backend\n"
        "print(json.dumps([jose_backend.backends.ECKey.__name__, jose_backend.backends.RSAKey.__name__,"
        " 'jose.backends.cryptography_backend' in sys.modules]))"
    )
    assert fresh_interpreter(code) == ["CryptographyECKey", "CryptographyRSAKey", True]


def test_what_python_jose_was_spared_still_works_when_asked_for():
    """PEM keys and certificates (never used by the authorizer) load the real modules on first use, and a later
    import of those modules gets the real ones."""
    code = """
import datetime, json, sys
from orgapi.tokens.jose_backend import backends, jwk
from jose.backends import cryptography_backend as cb
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives import hashes
private = ec.generate_private_key(ec.SECP384R1())
rsa_private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
before = [m in sys.modules for m in ("cryptography.x509", "cryptography.hazmat.primitives.serialization")]
pem = backends.ECKey(private, "ES384").public_key().to_pem()
from_pem = jwk.construct(pem.decode(), "ES384")
signature = backends.ECKey(private, "ES384").sign(b"data")
import cryptography.x509 as x509
from cryptography.hazmat.primitives import serialization
name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "t")])
now = datetime.datetime.now(datetime.timezone.utc)
cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(rsa_private.public_key())
        .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
        .sign(rsa_private, hashes.SHA256()))
from_cert = backends.RSAKey(cert.public_bytes(serialization.Encoding.PEM), "RS256")
rsa_signature = backends.RSAKey(rsa_private, "RS256").sign(b"data")
print(json.dumps(before + [from_pem.verify(b"data", signature), from_cert.verify(b"data", rsa_signature),
      type(sys.modules["cryptography.x509"]).__name__, cb.serialization is not serialization]))
"""
    assert fresh_interpreter(code) == [False, False, True, True, "module", True]


@pytest.mark.parametrize("already", ["cryptography.x509", "cryptography.hazmat.primitives.serialization"])
def test_a_module_already_loaded_is_used_as_it_is(already):
    code = f"import {already} as real, sys\nfrom orgapi.tokens import jose_backend\nimport json\n"
    code += f"print(json.dumps([sys.modules['{already}'] is real]))"
    assert fresh_interpreter(code) == [True]


# An operation talks to Logto with urllib3 alone (orgapi/logto/http.py): requests' extras cost ~20 ms of every
# function's cold start and nothing here uses them (cookies, redirects, proxies from the environment, charset guessing).
OPERATION_NEVER = ("requests", "charset_normalizer", "http.cookiejar", "idna", "certifi", "boto3")
# pydantic (and pydantic-core under it) loads only where a request body or query is parsed, when it first is: Logto's
# answers are checked without it (orgapi.logto.shapes).
PARSING_ONLY = ("pydantic", "pydantic_core")
# What urllib3 and Powertools import for features we never use (orgapi.base.spared_imports): urllib3's HTTP/2 opt-in
# reads importlib.metadata (which brings zipfile, pathlib's glob, email's parser...), Powertools' correlation ids jmespath.
SPARED = ("importlib.metadata", "zipfile", "jmespath", "aws_lambda_powertools.utilities.jmespath_utils")


@pytest.mark.parametrize("function", ["get_organization", "add_members", "create_invitation"])
def test_an_operation_imports_neither_requests_nor_boto3(function):
    assert fresh_interpreter("import app\n" + loaded(OPERATION_NEVER), function) == []


@pytest.mark.parametrize("function", ["get_organization", "remove_member", "add_members"])
def test_an_operation_loads_pydantic_only_to_parse_a_request(function):
    assert fresh_interpreter("import app\n" + loaded(PARSING_ONLY), function) == []


@pytest.mark.parametrize("function", ["authorizer", "get_organization", "remove_member"])
def test_what_libraries_import_for_unused_features_stays_out(function):
    assert fresh_interpreter("import app\n" + loaded(SPARED), function) == []


def test_what_urllib3_and_powertools_were_spared_still_works_when_asked_for():
    """urllib3's HTTP/2 opt-in reads a package version through the placeholder's forwarder; Powertools' Logger queries
    a correlation id with the real jmespath utilities; later imports get the real modules."""
    code = """
import app, json, sys
import urllib3.http2, importlib.metadata
from aws_lambda_powertools.logging import logger as logger_module
from orgapi.base.observability import logger
version = urllib3.http2.version("urllib3")
@logger.inject_lambda_context(correlation_id_path="headers.id")
def handler(event, context):
    return logger.get_correlation_id()
class Context:
    function_name, memory_limit_in_mb, aws_request_id = "f", 128, "r"
    invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:f"
print(json.dumps([version == urllib3.__version__, type(importlib.metadata).__name__, handler({"headers": {"id": "c-1"}},
      Context()), type(logger_module.jmespath_utils).__name__, "jmespath" in sys.modules]))
"""
    assert fresh_interpreter(code, "get_organization") == [True, "module", "c-1", "_Placeholder", True]


@pytest.mark.parametrize("spared", ["importlib.metadata", "jmespath"])
def test_a_spared_module_already_loaded_is_used_as_it_is(spared):
    code = f"import {spared} as real, sys\nimport app\nimport json\n"
    code += f"print(json.dumps([sys.modules['{spared}'] is real]))"
    assert fresh_interpreter(code, "get_organization") == [True]


def test_every_dataclass_of_the_layer_has_a_docstring():
    """A dataclass without one gets `__doc__` from `inspect.signature` when the class is made: ~0.4 ms of a cold start
    each (20 of them in an operation's import)."""
    import ast

    missing = []
    for path in sorted((ROOT / "layers" / "common" / "orgapi").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            decorators = [ast.unparse(d) for d in getattr(node, "decorator_list", [])]
            is_dataclass = isinstance(node, ast.ClassDef) and any(d.startswith("dataclass") for d in decorators)
            if is_dataclass and not ast.get_docstring(node):  # type: ignore[arg-type]
                missing.append(f"{path.relative_to(ROOT)}:{node.name}")
    assert missing == []
