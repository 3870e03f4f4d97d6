#!/usr/bin/env python3
"""Production sign-in (OpenID Connect, authorization code with PKCE) of the real portald,
against oidc_provider.py and the real vaultd, which accepts the provider's access tokens:

    portal_oidc_test.py --bin-dir BUILD --out-dir DIR

The redirects and cookies are followed by hand (http.client), so each step can be checked and
tampered with: a wrong state, a replayed code, a wrong nonce, an ID token for another audience."""

import argparse
import http.client
import json
import os
import re
import ssl
import sys
import unittest
import urllib.parse

from oidc_provider import Provider
from stack import Stack

ARGS = None


class OidcSignIn(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        os.makedirs(ARGS.out_dir, exist_ok=True)

        def production(stack):
            tls = os.path.join(stack.state, "tls")
            cls.provider = Provider(os.path.join(tls, "server.crt"),
                                    os.path.join(tls, "server.key"), "portal", "s3cret-client",
                                    "escrow-vault")
            pem = os.path.join(stack.state, "idp", "provider.pub")
            open(pem, "wb").write(cls.provider.public_pem())
            conf = os.path.join(stack.state, "vault.conf")
            text = open(conf).read()
            text = re.sub(r"issuers = \[([^\]]*)\]",
                          lambda m: f"issuers = [{m.group(1)}, '{cls.provider.issuer}']", text)
            text = re.sub(r"keys = \[([^\]]*)\]", lambda m: f"keys = [{m.group(1)}, '{pem}']",
                          text)
            open(conf, "w").write(text)
            secret = os.path.join(stack.state, "oidc-client-secret")
            with open(os.open(secret, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
                f.write("s3cret-client\n")
            portal_conf = open(os.path.join(stack.state, "portal.conf")).read()
            portal_conf = portal_conf.replace("dev = true", "dev = false")
            portal_conf = portal_conf[:portal_conf.index("\n[dev_signin]")] + f"""
[oidc]
issuer = "{cls.provider.issuer}"
client_id = "portal"
client_secret_file = "oidc-client-secret"
redirect_uri = "https://127.0.0.1:{stack.portal_port}/auth/callback"
vault_audience = "escrow-vault"
ca = "tls/ca.crt"
"""
            open(os.path.join(stack.state, "portal.conf"), "w").write(portal_conf)

        cls.stack = Stack(ARGS.bin_dir, ARGS.out_dir, before_start=production)
        cls.stack.enrol("mac-carol", serial="C02CAROL1", name="Carol MacBook", platform="macos",
                        ownership="corporate", owner="carol", encryption_enabled=True)

    @classmethod
    def tearDownClass(cls):
        cls.stack.close()
        cls.provider.close()

    def setUp(self):
        self.provider.bad_nonce = False
        self.provider.id_audience = None

    def get(self, port, path, cookie=None):
        ctx = ssl.create_default_context(cafile=self.stack.ca)
        conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=30)
        conn.request("GET", path, headers={"Cookie": cookie} if cookie else {})
        r = conn.getresponse()
        body = r.read()
        conn.close()
        return r, body

    def set_cookies(self, response):
        return [v for k, v in response.getheaders() if k.lower() == "set-cookie"]

    def start(self):
        """Portal /auth/login, then the provider's authorize: the callback path and the cookie."""
        r, _ = self.get(self.stack.portal_port, "/auth/login")
        self.assertEqual(r.status, 302)
        location = urllib.parse.urlsplit(r.getheader("Location"))
        q = dict(urllib.parse.parse_qsl(location.query))
        self.assertEqual(q["code_challenge_method"], "S256")
        self.assertEqual(q["client_id"], "portal")
        (state_cookie,) = self.set_cookies(r)
        self.assertRegex(state_cookie, r"^__Host-portal-oidc=[^;]+; Path=/; Secure; HttpOnly; "
                                       r"SameSite=Lax; Max-Age=\d+$")
        provider_port = int(location.netloc.split(":")[1])
        r, _ = self.get(provider_port, location.path + "?" + location.query)
        self.assertEqual(r.status, 302)
        callback = urllib.parse.urlsplit(r.getheader("Location"))
        self.assertEqual(callback.path, "/auth/callback")
        return callback.path + "?" + callback.query, state_cookie.split(";")[0]

    def finish(self, callback, cookie):
        return self.get(self.stack.portal_port, callback, cookie)

    def refused(self, response, why):
        self.assertEqual(response.status, 400)
        self.assertFalse([c for c in self.set_cookies(response)
                          if c.startswith("__Host-portal-session=")])
        refusals = [json.loads(line)["message"] for line in self.stack.portal.text().splitlines()
                    if '"signin_refused"' in line]
        self.assertIn(why, refusals[-1])

    def test_sign_in_then_the_vault_takes_the_access_token(self):
        self.provider.roles = ["helpdesk"]
        callback, cookie = self.start()
        r, body = self.finish(callback, cookie)
        self.assertEqual(r.status, 200)
        self.assertIn(b'http-equiv="refresh"', body)
        cookies = self.set_cookies(r)
        session = [c for c in cookies if c.startswith("__Host-portal-session=")][0]
        self.assertRegex(session, r"; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=(59\d|600)$")
        self.assertIn("__Host-portal-oidc=; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=0",
                      cookies)
        jar = session.split(";")[0]
        r, body = self.get(self.stack.portal_port, "/api/session", jar)
        info = json.loads(body)
        self.assertEqual((info["user"], info["roles"], info["dev"]), ("carol", ["helpdesk"], False))
        r, body = self.get(self.stack.portal_port, "/api/devices", jar)
        self.assertEqual(r.status, 200)
        self.assertEqual([d["id"] for d in json.loads(body)["devices"]], ["mac-carol"])
        self.provider.roles = []

    def test_wrong_state_is_refused(self):
        callback, cookie = self.start()
        tampered = re.sub(r"state=[^&]+", "state=" + "A" * 43, callback)
        self.refused(self.finish(tampered, cookie)[0], "state mismatch")
        self.refused(self.finish(callback, "")[0], "no code, state or cookie")

    def test_replayed_code_is_refused(self):
        callback, cookie = self.start()
        self.assertEqual(self.finish(callback, cookie)[0].status, 200)
        self.refused(self.finish(callback, cookie)[0], "token endpoint")
        self.assertTrue(self.provider.redeemed)  # the provider saw the second redemption

    def test_wrong_nonce_is_refused(self):
        self.provider.bad_nonce = True
        callback, cookie = self.start()
        self.refused(self.finish(callback, cookie)[0], "nonce mismatch")

    def test_id_token_for_another_audience_is_refused(self):
        self.provider.id_audience = "another-client"
        callback, cookie = self.start()
        self.refused(self.finish(callback, cookie)[0], "id token")
        self.provider.id_audience = "escrow-vault"  # even the vault's own audience
        callback, cookie = self.start()
        self.refused(self.finish(callback, cookie)[0], "id token")

    def test_pages_send_a_signed_out_browser_to_the_provider(self):
        r, _ = self.get(self.stack.portal_port, "/")
        self.assertEqual((r.status, r.getheader("Location")), (302, "/auth/login"))
        r, _ = self.get(self.stack.portal_port, "/signin")
        self.assertEqual((r.status, r.getheader("Location")), (302, "/auth/login"))
        r, _ = self.get(self.stack.portal_port, "/api/dev/users")
        self.assertEqual(r.status, 401)  # no dev sign-in in production

    def test_no_token_or_code_in_the_logs(self):
        callback, cookie = self.start()
        code = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(callback).query))["code"]
        self.finish(callback, cookie)
        logs = self.stack.logs()
        self.assertNotIn(code, logs)
        self.assertNotIn("s3cret-client", logs)
        self.assertNotIn("eyJ", logs)  # no JWT


def main():
    global ARGS
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin-dir", required=True)
    parser.add_argument("--out-dir", required=True)
    ARGS = parser.parse_args()
    suite = unittest.TestLoader().loadTestsFromTestCase(OidcSignIn)
    sys.exit(0 if unittest.TextTestRunner(verbosity=2).run(suite).wasSuccessful() else 1)


if __name__ == "__main__":
    main()
