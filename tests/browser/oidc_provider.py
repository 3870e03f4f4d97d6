"""A small OpenID Connect provider for the portal's tests: discovery, authorize (signs in the
user the test names, no login page), token (authorization code with PKCE S256, client_secret_basic,
each code redeemed once) and JWKS; ES256 tokens from python3-cryptography. Knobs make it
misbehave the way the tests need: a wrong nonce, an ID token for another audience."""

import base64
import hashlib
import json
import secrets
import ssl
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Provider:
    def __init__(self, cert, key, client_id, client_secret, vault_audience):
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.client_id = client_id
        self.client_secret = client_secret
        self.vault_audience = vault_audience
        self.user = "carol"
        self.roles = []
        self.bad_nonce = False
        self.id_audience = None  # None: the client id
        self.codes = {}
        self.redeemed = []
        self.lock = threading.Lock()
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def reply(self, status, body, headers=()):
                data = json.dumps(body).encode() if not isinstance(body, bytes) else body
                self.send_response(status)
                for k, v in headers:
                    self.send_header(k, v)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                url = urllib.parse.urlsplit(self.path)
                q = dict(urllib.parse.parse_qsl(url.query))
                if url.path == "/.well-known/openid-configuration":
                    self.reply(200, provider.discovery())
                elif url.path == "/jwks":
                    self.reply(200, provider.jwks())
                elif url.path == "/authorize":
                    status, location = provider.authorize(q)
                    self.reply(status, b"", [("Location", location)] if location else [])
                else:
                    self.reply(404, {"error": "not_found"})

            def do_POST(self):
                length = int(self.headers.get("Content-Length", "0"))
                form = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode()))
                if urllib.parse.urlsplit(self.path).path != "/token":
                    return self.reply(404, {"error": "not_found"})
                status, body = provider.token(form, self.headers.get("Authorization", ""))
                self.reply(status, body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.issuer = f"https://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def public_pem(self):
        return self.key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

    def discovery(self):
        return {"issuer": self.issuer, "authorization_endpoint": self.issuer + "/authorize",
                "token_endpoint": self.issuer + "/token", "jwks_uri": self.issuer + "/jwks",
                "response_types_supported": ["code"], "code_challenge_methods_supported": ["S256"],
                "id_token_signing_alg_values_supported": ["ES256"]}

    def jwks(self):
        n = self.key.public_key().public_numbers()
        return {"keys": [{"kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": "k1",
                          "x": b64url(n.x.to_bytes(32, "big")),
                          "y": b64url(n.y.to_bytes(32, "big"))}]}

    def sign(self, claims):
        header = b64url(json.dumps({"alg": "ES256", "typ": "JWT", "kid": "k1"}).encode())
        payload = b64url(json.dumps(claims).encode())
        der = self.key.sign(f"{header}.{payload}".encode(), ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        return f"{header}.{payload}.{b64url(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"

    def authorize(self, q):
        if q.get("client_id") != self.client_id or q.get("response_type") != "code" or \
                q.get("code_challenge_method") != "S256" or not q.get("code_challenge"):
            return 400, None
        code = secrets.token_urlsafe(24)
        with self.lock:
            self.codes[code] = {"nonce": q.get("nonce", ""), "challenge": q["code_challenge"],
                                "redirect_uri": q["redirect_uri"], "user": self.user,
                                "roles": list(self.roles)}
        return 302, q["redirect_uri"] + "?" + urllib.parse.urlencode(
            {"code": code, "state": q.get("state", "")})

    def token(self, form, authorization):
        expected = "Basic " + base64.b64encode(
            f"{self.client_id}:{self.client_secret}".encode()).decode()
        if authorization != expected:
            return 401, {"error": "invalid_client"}
        with self.lock:
            grant = self.codes.pop(form.get("code", ""), None)
            if grant is None:
                self.redeemed.append(form.get("code"))
                return 400, {"error": "invalid_grant"}
        verifier = form.get("code_verifier", "")
        if b64url(hashlib.sha256(verifier.encode()).digest()) != grant["challenge"] or \
                form.get("redirect_uri") != grant["redirect_uri"]:
            return 400, {"error": "invalid_grant"}
        now = int(time.time())
        id_token = self.sign({"iss": self.issuer, "sub": grant["user"],
                              "aud": self.id_audience or self.client_id, "iat": now,
                              "exp": now + 600,
                              "nonce": "not-the-nonce" if self.bad_nonce else grant["nonce"]})
        access_token = self.sign({"iss": self.issuer, "sub": grant["user"],
                                  "aud": self.vault_audience, "iat": now, "exp": now + 600,
                                  "roles": grant["roles"]})
        return 200, {"token_type": "Bearer", "id_token": id_token, "access_token": access_token,
                     "expires_in": 600}

    def close(self):
        self.server.shutdown()
        self.server.server_close()
