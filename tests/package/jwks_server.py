#!/usr/bin/env python3
"""The package test's identity-provider endpoint: serves the JWKS of an EC P-256 public key
over HTTPS on loopback, so that portald (started with the packaged portal.conf and explicit
OpenID Connect endpoints) can start without discovery or network.

    jwks_server.py --pub signing.pub --cert server.crt --key server.key --port-file FILE
"""
import argparse
import base64
import http.server
import json
import ssl

from cryptography.hazmat.primitives import serialization


def b64url(n: int) -> str:
    return base64.urlsafe_b64encode(n.to_bytes(32, "big")).rstrip(b"=").decode()


def main() -> None:
    p = argparse.ArgumentParser()
    for name in ("--pub", "--cert", "--key", "--port-file"):
        p.add_argument(name, required=True)
    a = p.parse_args()
    with open(a.pub, "rb") as f:
        numbers = serialization.load_pem_public_key(f.read()).public_numbers()
    body = json.dumps({"keys": [{"kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256",
                                 "kid": "test", "x": b64url(numbers.x),
                                 "y": b64url(numbers.y)}]}).encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(a.cert, a.key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    with open(a.port_file, "w") as f:
        f.write(str(server.server_address[1]))
    server.serve_forever()


if __name__ == "__main__":
    main()
