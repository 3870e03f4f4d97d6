#!/usr/bin/env python3
"""Mints an ES256 JWT with an EC P-256 private key: the package test's stand-in for the
organisation's identity provider (the vault holds only the public key, as in production).

    mint_token.py --key KEY.pem --iss ISSUER --aud AUDIENCE --sub USER [--roles a,b] [--ttl S]
"""
import argparse
import base64
import json
import time

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--key", required=True)
    p.add_argument("--iss", required=True)
    p.add_argument("--aud", required=True)
    p.add_argument("--sub", required=True)
    p.add_argument("--roles", default="")
    p.add_argument("--ttl", type=int, default=900)
    a = p.parse_args()
    with open(a.key, "rb") as f:
        key = serialization.load_pem_private_key(f.read(), password=None)
    now = int(time.time())
    header = {"alg": "ES256", "typ": "JWT"}
    claims = {"iss": a.iss, "sub": a.sub, "aud": a.aud, "iat": now, "exp": now + a.ttl,
              "roles": [r for r in a.roles.split(",") if r]}
    signing_input = (b64url(json.dumps(header, separators=(",", ":")).encode()) + "." +
                     b64url(json.dumps(claims, separators=(",", ":")).encode()))
    der = key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(der)
    print(signing_input + "." + b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big")))


if __name__ == "__main__":
    main()
