#!/usr/bin/env python3
"""Writes the GatewayAuth test fixtures: keys (PEM, JWKS) and tokens minted by libraries
wsgate did not write (PyJWT, joserfc), plus hand-crafted hostile tokens.

    pip install pyjwt joserfc cryptography
    python3 Tests/GatewayAuthTests/Fixtures/generate.py

The output is committed, so the Swift tests need no Python. Re-running makes new keys and
therefore new tokens; the Swift tests only rely on names, not on particular bytes.

tokens.json holds:
  now          the fixed clock (seconds since the epoch) every fixture is checked at
  policy       issuers / audiences / leeway / max_token_bytes the verifier uses
  interop      tokens that must verify: every algorithm, from both libraries
  fixtures     named tokens; "expect" is the reason code (or "ok"), for humans: the Swift
               side states its own expectation per name and checks both sets of names agree.
"""

import base64
import datetime
import hashlib
import hmac
import json
import os
import warnings

import jwt as pyjwt  # PyJWT
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID
from joserfc import jwt as jrfc
from joserfc.jwk import ECKey, OctKey, OKPKey, RSAKey

warnings.filterwarnings("ignore")  # joserfc warns that EdDSA is superseded by RFC 9864

HERE = os.path.dirname(os.path.abspath(__file__))
NOW = 1_900_000_000  # 2030-03-17
FAR = 4_102_444_800  # 2100-01-01
ISSUER = "https://issuer.example"
AUDIENCE = "chat"
LEEWAY = 30
MAX_TOKEN_BYTES = 8192


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def compact(obj) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def write(name: str, data: bytes) -> None:
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(data)


def pem_private(key, traditional=False) -> bytes:
    fmt = serialization.PrivateFormat.TraditionalOpenSSL if traditional else serialization.PrivateFormat.PKCS8
    return key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption())


def pem_public(key) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


# ---------------------------------------------------------------------------------------- keys
hmac_secret = os.urandom(64)  # long enough for HS512 (RFC 7518 §3.2)
rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
rsa_other = rsa.generate_private_key(public_exponent=65537, key_size=2048)  # an attacker's key
rsa_small = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # below RFC 7518 §3.3
ec256_key = ec.generate_private_key(ec.SECP256R1())
ec384_key = ec.generate_private_key(ec.SECP384R1())
ed_key = ed25519.Ed25519PrivateKey.generate()
jwks_rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
jwks_ec = ec.generate_private_key(ec.SECP256R1())
jwks_ed = ed25519.Ed25519PrivateKey.generate()

write("rsa-private.pem", pem_private(rsa_key))
write("rsa-private-traditional.pem", pem_private(rsa_key, traditional=True))
write("rsa-public.pem", pem_public(rsa_key))
write("rsa-public-pkcs1.pem", rsa_key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.PKCS1))
write("rsa-1024-public.pem", pem_public(rsa_small))
write("ec256-private.pem", pem_private(ec256_key))
write("ec256-private-traditional.pem", pem_private(ec256_key, traditional=True))
write("ec256-public.pem", pem_public(ec256_key))
write("ec384-private.pem", pem_private(ec384_key))
write("ec384-public.pem", pem_public(ec384_key))
write("ed25519-private.pem", pem_private(ed_key))
write("ed25519-public.pem", pem_public(ed_key))
write("hmac-secret.bin", hmac_secret)


def self_signed(key, cn: str) -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
    algorithm = None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=3650))
        .sign(key, algorithm)
    )
    return cert.public_bytes(serialization.Encoding.PEM)


write("rsa-cert.pem", self_signed(rsa_key, "wsgate test rsa"))
write("ec256-cert.pem", self_signed(ec256_key, "wsgate test ec"))
write("ed25519-cert.pem", self_signed(ed_key, "wsgate test ed25519"))

# A JWKS as identity providers publish it, exported by joserfc; with an encryption key and an
# unsupported curve that the loader must skip.
jwks = {"keys": []}
for kid, key, alg in [("jwks-rsa", jwks_rsa, "RS256"), ("jwks-ec", jwks_ec, "ES256"), ("jwks-ed", jwks_ed, None)]:
    jwk_obj = {
        "jwks-rsa": RSAKey, "jwks-ec": ECKey, "jwks-ed": OKPKey,
    }[kid].import_key(pem_public(key))
    entry = jwk_obj.as_dict(private=False)
    entry["kid"] = kid
    entry["use"] = "sig"
    if alg:
        entry["alg"] = alg
    jwks["keys"].append(entry)
enc_entry = RSAKey.import_key(pem_public(rsa_other)).as_dict(private=False)
enc_entry.update({"kid": "jwks-enc", "use": "enc"})
jwks["keys"].append(enc_entry)
p521 = ECKey.import_key(pem_public(ec.generate_private_key(ec.SECP521R1()))).as_dict(private=False)
p521["kid"] = "jwks-p521"
jwks["keys"].append(p521)
write("jwks.json", json.dumps(jwks, indent=2).encode() + b"\n")

# ------------------------------------------------------------------------------------- claims
def claims(**overrides):
    base = {
        "iss": ISSUER,
        "sub": "alice",
        "aud": AUDIENCE,
        "iat": NOW - 60,
        "exp": FAR,
        "role": "member",
        "roles": ["reader", "writer"],
        "scope": "chat.read chat.write",
        "scp": ["admin.view"],
        "org": {"id": "org-42", "tier": {"name": "gold"}, "seats": 12},
        "email": "alice@example.com",
        "https://example.com/tenant": "acme",
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


SIGNING_KEYS = {
    "HS256": ("hs", hmac_secret), "HS384": ("hs", hmac_secret), "HS512": ("hs", hmac_secret),
    "RS256": ("rsa", rsa_key), "RS384": ("rsa", rsa_key), "RS512": ("rsa", rsa_key),
    "PS256": ("rsa", rsa_key), "PS384": ("rsa", rsa_key), "PS512": ("rsa", rsa_key),
    "ES256": ("ec256", ec256_key), "ES384": ("ec384", ec384_key), "EdDSA": ("ed", ed_key),
}


def with_pyjwt(alg, payload, kid=None, headers=None):
    default_kid, key = SIGNING_KEYS[alg]
    h = dict(headers or {})
    kid = default_kid if kid is None else kid
    if kid:
        h["kid"] = kid
    return pyjwt.encode(payload, key, algorithm=alg, headers=h)


def joserfc_key(alg):
    _, key = SIGNING_KEYS[alg]
    if alg.startswith("HS"):
        return OctKey.import_key(key)
    cls = OKPKey if alg == "EdDSA" else {"R": RSAKey, "P": RSAKey, "E": ECKey}[alg[0]]
    return cls.import_key(pem_private(key))


def with_joserfc(alg, payload, kid=None):
    default_kid, _ = SIGNING_KEYS[alg]
    header = {"alg": alg, "kid": kid or default_kid}
    return jrfc.encode(header, payload, joserfc_key(alg), algorithms=[alg])


def raw_sign(alg, header_bytes: bytes, payload_bytes: bytes, key=None) -> str:
    """Signs exact bytes, for tokens no library would produce."""
    signing_input = (b64u(header_bytes) + "." + b64u(payload_bytes)).encode()
    return signing_input.decode() + "." + b64u(raw_signature(alg, signing_input, key))


def raw_signature(alg, data: bytes, key=None) -> bytes:
    key = key if key is not None else SIGNING_KEYS[alg][1]
    digest = {"256": hashes.SHA256(), "384": hashes.SHA384(), "512": hashes.SHA512()}.get(alg[2:])
    if alg.startswith("HS"):
        return hmac.new(key, data, getattr(hashlib, "sha" + alg[2:])).digest()
    if alg.startswith("RS"):
        return key.sign(data, padding.PKCS1v15(), digest)
    if alg.startswith("PS"):
        return key.sign(data, padding.PSS(mgf=padding.MGF1(digest), salt_length=digest.digest_size), digest)
    if alg.startswith("ES"):
        r, s = decode_dss_signature(key.sign(data, ec.ECDSA(digest)))
        size = 32 if alg == "ES256" else 48
        return r.to_bytes(size, "big") + s.to_bytes(size, "big")
    return key.sign(data)


# ------------------------------------------------------------------------------------ interop
interop = []
for alg in SIGNING_KEYS:
    interop.append({"library": "pyjwt", "alg": alg, "token": with_pyjwt(alg, claims())})
    interop.append({"library": "joserfc", "alg": alg, "token": with_joserfc(alg, claims())})
# Keys from the JWKS document, tokens from PyJWT.
for kid, key, alg in [("jwks-rsa", jwks_rsa, "RS256"), ("jwks-ec", jwks_ec, "ES256"), ("jwks-ed", jwks_ed, "EdDSA")]:
    interop.append({"library": "pyjwt", "alg": alg, "kid": kid,
                    "token": pyjwt.encode(claims(), key, algorithm=alg, headers={"kid": kid})})

# ----------------------------------------------------------------------------------- fixtures
fixtures = {}


def fixture(name, token, expect, note):
    assert name not in fixtures, name
    fixtures[name] = {"token": token, "expect": expect, "note": note}


def hs(payload_obj=None, header_obj=None, payload_bytes=None, header_bytes=None):
    header_bytes = header_bytes if header_bytes is not None else compact(header_obj or {"alg": "HS256", "kid": "hs"})
    payload_bytes = payload_bytes if payload_bytes is not None else compact(payload_obj if payload_obj is not None else claims())
    return raw_sign("HS256", header_bytes, payload_bytes)


valid = with_pyjwt("HS256", claims())
h, p, s = valid.split(".")

fixture("valid", valid, "ok", "PyJWT HS256 with every claim right")
fixture("validRS256NoKid", with_pyjwt("RS256", claims(), kid=""), "ok", "PyJWT RS256 without kid: candidates chosen by alg")
fixture("expired", with_pyjwt("HS256", claims(exp=NOW - 100)), "token_expired", "exp 100 s before now")
fixture("expiredAtLeewayEdge", with_pyjwt("HS256", claims(exp=NOW - LEEWAY)), "token_expired",
        "exp + leeway == now: RFC 7519 §4.1.4 wants now strictly before")
fixture("expiryWithinLeeway", with_pyjwt("HS256", claims(exp=NOW - LEEWAY + 1)), "ok", "one second inside the leeway")
fixture("notYetValid", with_pyjwt("HS256", claims(nbf=NOW + 100)), "token_not_yet_valid", "nbf 100 s after now")
fixture("notBeforeAtLeewayEdge", with_pyjwt("HS256", claims(nbf=NOW + LEEWAY)), "ok", "nbf - leeway == now is valid")
fixture("notBeforeBeyondLeeway", with_pyjwt("HS256", claims(nbf=NOW + LEEWAY + 1)), "token_not_yet_valid",
        "one second beyond the leeway")
fixture("wrongIssuer", with_pyjwt("HS256", claims(iss="https://evil.example")), "issuer_mismatch", "iss of another issuer")
fixture("missingIssuer", with_pyjwt("HS256", claims(iss=None)), "issuer_mismatch", "issuers configured, no iss")
fixture("wrongAudience", with_pyjwt("HS256", claims(aud="billing")), "audience_mismatch", "aud names another service")
fixture("audienceArray", with_pyjwt("HS256", claims(aud=["billing", AUDIENCE])), "ok", "aud array containing ours")
fixture("audienceArrayWithoutOurs", with_pyjwt("HS256", claims(aud=["billing", "search"])), "audience_mismatch", "aud array naming only other services")
fixture("missingAudience", with_pyjwt("HS256", claims(aud=None)), "audience_mismatch", "audiences configured, token has no aud")
fixture("unknownKid", with_pyjwt("HS256", claims(), kid="nobody"), "unknown_key", "kid no configured key has")
for spelling, name in [("none", "algNone"), ("None", "algNoneCapitalized"), ("NONE", "algNoneUpper"), ("nOnE", "algNoneMixed")]:
    header = b64u(compact({"alg": spelling, "typ": "JWT"}))
    fixture(name, header + "." + p + ".", "algorithm_not_allowed", f"alg {spelling}, empty signature (RFC 8725 §3.1)")
fixture("algNoneWithSignature", b64u(compact({"alg": "none", "kid": "hs"})) + "." + p + "." + s,
        "algorithm_not_allowed", "alg none with the valid token's signature attached")
rsa_pem = pem_public(rsa_key)
fixture("hs256KeyedWithRSAPublicKey",
        raw_sign("HS256", compact({"alg": "HS256", "kid": "rsa"}), compact(claims()), key=rsa_pem),
        "algorithm_not_allowed", "HMAC with the RSA public key PEM as secret, kid of the RSA key (RFC 8725 §2.1)")
fixture("hs256KeyedWithRSAPublicKeyNoKid",
        raw_sign("HS256", compact({"alg": "HS256"}), compact(claims()), key=rsa_pem),
        "signature_invalid", "same without kid: only real HMAC keys are candidates, and they do not verify")
tampered_payload = b64u(compact(claims(role="admin")))
fixture("tamperedPayload", h + "." + tampered_payload + "." + s, "signature_invalid", "role changed after signing")
sig = bytearray(base64.urlsafe_b64decode(s + "=" * (-len(s) % 4)))
sig[5] ^= 0x01
fixture("tamperedSignature", h + "." + p + "." + b64u(bytes(sig)), "signature_invalid", "one bit flipped")
fixture("strippedSignature", h + "." + p + ".", "signature_invalid", "empty signature segment")
fixture("truncatedSignature", h + "." + p + "." + b64u(bytes(sig[:16])), "signature_invalid", "16 of 32 bytes")
fixture("badBase64", h + "." + p[:10] + "*" + p[11:] + "." + s, "token_malformed", "'*' in the payload")
fixture("standardBase64Alphabet", h + "." + p + "." + s[:-3] + "+/A", "token_malformed", "'+' and '/' are not base64url")
fixture("paddedSignature", h + "." + p + "." + s + "=", "token_malformed", "base64url padding")
fixture("paddedHeader", h + "=." + p + "." + s, "token_malformed", "base64url padding")
fixture("whitespace", h + "." + p + "." + s + "\n", "token_malformed", "trailing newline")
ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
assert len(s) == 43 and ALPHABET.index(s[-1]) & 3 == 0  # 32 bytes: the last character carries 2 unused bits
fixture("nonCanonicalBase64", h + "." + p + "." + s[:-1] + ALPHABET[ALPHABET.index(s[-1]) | 1],
        "token_malformed", "non-zero unused bits: same bytes to a lenient decoder (RFC 4648 §3.5)")
fixture("twoSegments", h + "." + p, "token_malformed", "header and payload, no signature segment")
fixture("fourSegments", valid + "." + s, "token_malformed", "a valid token with one segment too many")
fixture("fiveSegments", valid + ".AAAA.AAAA", "token_malformed", "the shape of a JWE (RFC 7516)")
fixture("emptyToken", "", "token_malformed", "the empty string")
fixture("duplicateHeaderKey", hs(header_bytes=b'{"alg":"HS256","kid":"hs","alg":"none"}'), "token_malformed",
        "alg twice; parsers disagree on which wins")
fixture("duplicatePayloadKey", hs(payload_bytes=compact(claims())[:-1] + b',"sub":"admin"}'), "token_malformed",
        "sub twice in a correctly signed payload")
fixture("nonObjectPayload", hs(payload_bytes=b'["not","an","object"]'), "token_malformed", "claims set that is a JSON array")
fixture("stringPayload", hs(payload_bytes=b'"just a string"'), "token_malformed", "claims set that is a JSON string")
fixture("nonObjectHeader", hs(header_bytes=b'["HS256"]'), "token_malformed", "header that is a JSON array")
fixture("headerNotJSON", hs(header_bytes=b'alg=HS256'), "token_malformed", "header that is not JSON at all")
fixture("missingAlg", hs(header_obj={"kid": "hs"}), "token_malformed", "header without alg")
fixture("algNotString", hs(header_obj={"alg": 256, "kid": "hs"}), "token_malformed", "alg is a number, not a string")
fixture("kidNotString", hs(header_obj={"alg": "HS256", "kid": 7}), "token_malformed", "kid is a number")
fixture("unsupportedAlg", hs(header_obj={"alg": "ES512", "kid": "hs"}), "algorithm_not_allowed", "ES512, a JOSE alg wsgate does not verify")
fixture("lowercaseAlg", hs(header_obj={"alg": "hs256", "kid": "hs"}), "algorithm_not_allowed",
        "alg is case-sensitive (RFC 7515 §4.1.1)")
fixture("nonNumericExp", hs(claims(exp=str(FAR))), "token_malformed", "exp as a string")
fixture("nonNumericNbf", hs(claims(nbf=True)), "token_malformed", "nbf as a bool")
fixture("nonStringIssuer", hs(claims(iss=["https://issuer.example"])), "token_malformed", "iss is an array")
fixture("numericAudience", hs(claims(aud=5)), "token_malformed", "aud is a number")
fixture("unknownCrit", hs(header_obj={"alg": "HS256", "kid": "hs", "crit": ["exp"], "exp": FAR}), "token_malformed",
        "RFC 7515 §4.1.11")
fixture("emptyCrit", hs(header_obj={"alg": "HS256", "kid": "hs", "crit": []}), "token_malformed",
        "crit must not be empty either")
fixture("oversize", hs(claims(padding="x" * 9000)), "token_malformed", "above max_token_bytes")
deep = b"[" * 200 + b"]" * 200
fixture("deepNesting", hs(payload_bytes=b'{"iss":"' + ISSUER.encode() + b'","deep":' + deep + b"}"), "token_malformed",
        "200 nested arrays")
fixture("deepNestingHeader", hs(header_bytes=b'{"alg":"HS256","kid":"hs","x":' + b"[" * 100 + b"]" * 100 + b"}"),
        "token_malformed", "100 nested arrays inside the header")
# Hostile bytes inside the JOSE JSON, each correctly signed: refused before jansson sees them.
# jansson skips a NUL after a number or literal, while PyJWT and Python's json refuse it.
TEXT_CASES = [
    ("NulAfterNumber", lambda prefix: prefix + b',"n":7\x00}', "NUL right after a number"),
    ("NulAfterLiteral", lambda prefix: prefix + b',"t":true\x00}', "NUL right after a literal"),
    ("NulInString", lambda prefix: prefix + b',"s":"a\x00b"}', "NUL inside a string"),
    ("NulAtEnd", lambda prefix: prefix + b"}\x00", "NUL after the closing brace"),
    ("OverlongUTF8", lambda prefix: prefix + b',"s":"\xc0\xaf"}', "overlong encoding of '/' (RFC 3629 §3)"),
    ("EncodedSurrogate", lambda prefix: prefix + b',"s":"\xed\xa0\x80"}', "U+D800 encoded as UTF-8 (RFC 3629 §3)"),
    ("TruncatedUTF8", lambda prefix: prefix + b',"s":"\xe2\x82"}', "a 3-byte sequence cut after 2 bytes"),
]
header_prefix = compact({"alg": "HS256", "kid": "hs"})[:-1]
payload_prefix = compact(claims())[:-1]
for suffix, build, note in TEXT_CASES:
    fixture("header" + suffix, hs(header_bytes=build(header_prefix)), "token_malformed", note + " in the header")
    fixture("payload" + suffix, hs(payload_bytes=build(payload_prefix)), "token_malformed", note + " in the claims set")
es = with_pyjwt("ES256", claims())
eh, ep, es_sig = es.split(".")
es_raw = base64.urlsafe_b64decode(es_sig + "=" * (-len(es_sig) % 4))
fixture("validES256", es, "ok", "PyJWT ES256, R‖S signature")
fixture("es256SignatureTooShort", eh + "." + ep + "." + b64u(es_raw[:63]), "signature_invalid", "63 bytes, R‖S needs 64")
fixture("es256SignatureTooLong", eh + "." + ep + "." + b64u(es_raw + b"\x00"), "signature_invalid", "65 bytes")
der = ec256_key.sign((eh + "." + ep).encode(), ec.ECDSA(hashes.SHA256()))
fixture("es256SignatureDER", eh + "." + ep + "." + b64u(der), "signature_invalid", "DER instead of R‖S (RFC 7518 §3.4)")
fixture("rs256WithECKey", raw_sign("RS256", compact({"alg": "RS256", "kid": "ec256"}), compact(claims())),
        "algorithm_not_allowed", "kid of an EC key, RSA alg")
fixture("es384WithP256Key", raw_sign("ES384", compact({"alg": "ES384", "kid": "ec256"}), compact(claims())),
        "algorithm_not_allowed", "P-256 key never verifies ES384")
fixture("eddsaWithRSAKey", raw_sign("EdDSA", compact({"alg": "EdDSA", "kid": "rsa"}), compact(claims())),
        "algorithm_not_allowed", "EdDSA alg with the kid of the RSA key")
rs = with_pyjwt("RS256", claims())
rh, rp, rsig = rs.split(".")
fixture("rs256SignatureAsPS256", b64u(compact({"alg": "PS256", "kid": "rsa"})) + "." + rp + "." + rsig,
        "signature_invalid", "PKCS#1 v1.5 signature presented as PSS")
ps_header = compact({"alg": "PS256", "kid": "rsa"})
ps_input = (b64u(ps_header) + "." + b64u(compact(claims()))).encode()
ps_max_salt = rsa_key.sign(ps_input, padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.MAX_LENGTH), hashes.SHA256())
fixture("ps256WrongSaltLength", ps_input.decode() + "." + b64u(ps_max_salt), "signature_invalid",
        "PSS with maximum salt; RFC 7518 §3.5 fixes salt = hash length")
attacker_jwk = RSAKey.import_key(pem_public(rsa_other)).as_dict(private=False)
fixture("embeddedJWK", raw_sign("RS256", compact({"alg": "RS256", "jwk": attacker_jwk}), compact(claims()), key=rsa_other),
        "signature_invalid", "signed by the key in its own jwk header; never trusted (RFC 8725 §3.10)")
fixture("jkuHeader", raw_sign("RS256", compact({"alg": "RS256", "kid": "rsa", "jku": "https://evil.example/jwks"}), compact(claims()), key=rsa_other),
        "signature_invalid", "jku is never fetched")
fixture("jwksKeyValid", pyjwt.encode(claims(), jwks_rsa, algorithm="RS256", headers={"kid": "jwks-rsa"}), "ok", "PyJWT RS256 signed with the JWKS RSA key")
fixture("jwksKeyAlgNotAllowed", pyjwt.encode(claims(), jwks_rsa, algorithm="RS384", headers={"kid": "jwks-rsa"}),
        "algorithm_not_allowed", "the JWK says alg RS256")
fixture("jwksEncryptionKey", pyjwt.encode(claims(), rsa_other, algorithm="RS256", headers={"kid": "jwks-enc"}),
        "unknown_key", "use: enc keys are skipped when loading")

# ------------------------------------------------------------------------------ unsafe RSA keys
# RSA keys a careless issuer could publish: the modulus of the JWKS RSA key with public exponent
# 1 (every "signature" that is just the PKCS#1 v1.5 padded message verifies: s^1 = s), 2 (even)
# and the edges that must load (3, 65537). Built with the standard library only, DER by hand,
# so no library refuses to write them. weak-keys.json holds the JWKS (the e=1 key next to the
# good one), a token forged for the e=1 key, and the exponent edges as single-key documents.
def der(tag, body):
    n = len(body)
    head = bytes([n]) if n < 0x80 else bytes([0x80 | ((n.bit_length() + 7) // 8)]) + n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag]) + head + body


def der_int(value):
    raw = value.to_bytes(max(1, (value.bit_length() + 8) // 8), "big")  # leading 0 keeps it positive
    return der(0x02, raw)


def spki_pem(n, e):
    rsa_oid = der(0x30, der(0x06, bytes.fromhex("2a864886f70d010101")) + b"\x05\x00")  # rsaEncryption, NULL
    body = der(0x30, rsa_oid + der(0x03, b"\x00" + der(0x30, der_int(n) + der_int(e))))
    text = base64.b64encode(body).decode()
    return ("-----BEGIN PUBLIC KEY-----\n" + "\n".join(text[i:i + 64] for i in range(0, len(text), 64)) + "\n-----END PUBLIC KEY-----\n").encode()


def weak_key_fixtures(good_jwk):
    n_b64 = good_jwk["n"]
    n = int.from_bytes(base64.urlsafe_b64decode(n_b64 + "=" * (-len(n_b64) % 4)), "big")
    k = (n.bit_length() + 7) // 8

    def jwk(kid, e):
        return {"kty": "RSA", "kid": kid, "alg": "RS256", "use": "sig", "n": n_b64, "e": b64u(e.to_bytes((e.bit_length() + 7) // 8, "big"))}

    # The forgery: EM = 0x00 0x01 FF… 0x00 DigestInfo(SHA-256) H (RFC 8017 §9.2), sent as is.
    signing_input = (b64u(compact({"alg": "RS256", "kid": "weak-e1"})) + "." + b64u(compact(claims()))).encode()
    digest_info = bytes.fromhex("3031300d060960864801650304020105000420") + hashlib.sha256(signing_input).digest()
    em = b"\x00\x01" + b"\xff" * (k - 3 - len(digest_info)) + b"\x00" + digest_info
    assert int.from_bytes(em, "big") < n
    forged = signing_input.decode() + "." + b64u(em)
    for e in (1, 2, 3, 65537):
        write(f"rsa-e{e}-public.pem", spki_pem(n, e))
    data = {
        "jwks": {"keys": [jwk("weak-e1", 1), good_jwk]},
        "forged": forged,
        "exponents": {str(e): {"keys": [jwk(f"e{e}", e)]} for e in (1, 2, 3, 65536, 65537)},
    }
    write("weak-keys.json", json.dumps(data, indent=2, sort_keys=True).encode() + b"\n")

weak_key_fixtures(next(k for k in jwks["keys"] if k.get("kid") == "jwks-rsa"))

data = {
    "now": NOW,
    "policy": {"issuers": [ISSUER], "audiences": [AUDIENCE], "leeway": LEEWAY, "max_token_bytes": MAX_TOKEN_BYTES},
    "hmac_secret": b64u(hmac_secret),
    "interop": interop,
    "fixtures": fixtures,
}
write("tokens.json", json.dumps(data, indent=2, sort_keys=True).encode() + b"\n")
print(f"wrote {len(interop)} interop tokens and {len(fixtures)} fixtures")
