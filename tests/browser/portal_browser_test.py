#!/usr/bin/env python3
"""The seeds' stories in headless Debian Chromium (python3-selenium, chromium-driver) against
the real portald and vaultd: found by visible text and labels, as a person clicks them.

    portal_browser_test.py --bin-dir BUILD --out-dir DIR [-k PATTERN]

Screenshots of every step, the servers' logs and the browser profile go to DIR (a build
directory, never git). Exits non-zero on the first failed story."""

import argparse
import glob
import http.client
import json
import os
import ssl
import subprocess
import sys
import time
import unittest

from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select, WebDriverWait

from stack import Stack, chromium

ARGS = None

MAC_KEY = "K7Q2-M9XD-4FHT-ZP3W-8LRC-V6NB"
MAC_KEY_TYPED = "k7q2m9xd4fhtzp3w8lrcv6nb"  # the confirmation, typed in lower case without dashes
WRONG_CONFIRM = "K7Q2-M9XD-4FHT-ZP3W-8LRC-V6NC"
BOB_PERSONAL_KEY = "B0B1-B0B2-B0B3-B0B4-B0B5-B0B6"
WIN_KEY = "-".join("%06d" % (11 * (1000 + 37 * i)) for i in range(8))
WIN_KEY_ID = "{6B3F1C2A-4D5E-4F60-8A9B-0C1D2E3F4A5B}"
ALL_KEYS = [MAC_KEY, MAC_KEY.replace("-", ""), MAC_KEY_TYPED, MAC_KEY_TYPED.upper(),
            BOB_PERSONAL_KEY, BOB_PERSONAL_KEY.replace("-", ""), WIN_KEY, WIN_KEY.replace("-", "")]

STORED = ("Your recovery key has been updated. If you ever get locked out of your device and need "
          "to retrieve your key, sign in to Company Portal and select Get recovery key.")
MISMATCH = "Keys must match. Check keys and try again."
DISAPPEARS = ("For security reasons, the key disappears after five minutes. To see the key again, "
              "select Get recovery key.")
NOT_FOUND = ("If a key isn't found but your device is properly encrypted, contact your "
             "organization's support person.")
PERSONAL = "IT support can't view recovery keys of personal devices."
UNABLE = "We were unable to upload your recovery key."
NOT_ENABLED = ("Your organization hasn't enabled encryption for this device. "
               "Contact your IT support person.")
NOT_SYNCED = "The device hasn't checked in recently. Sync the device (Check access), then try again."
UNAVAILABLE = "The HSM or the database is unavailable; nothing was changed."


class PortalStories(unittest.TestCase):
    """One stack and one browser for every story; the stories run in name order."""

    @classmethod
    def setUpClass(cls):
        os.makedirs(ARGS.out_dir, exist_ok=True)
        for old in glob.glob(os.path.join(ARGS.out_dir, "*.png")):
            os.remove(old)
        cls.stack = Stack(ARGS.bin_dir, ARGS.out_dir)
        s = cls.stack
        mac = {"platform": "macos", "ownership": "corporate", "owner": "alice",
               "encryption_enabled": True}
        s.enrol("mac-1", serial="C02ALICE1", name="Alice MacBook Pro", **mac)
        s.enrol("mac-old", checkin=False, serial="C02ALICE2", name="Alice old MacBook", **mac)
        s.enrol("mac-mini", serial="C02ALICE3", name="Alice Mac mini",
                **{**mac, "encryption_enabled": False})
        s.enrol("mac-imac", serial="C02ALICE4", name="Alice iMac", **mac)
        s.enrol("mac-bob", serial="C02BOB001", name="Bob personal MacBook",
                **{**mac, "owner": "bob", "ownership": "personal"})
        s.mdm("PUT", "/devices/mac-bob/recovery-key", {"recovery_key": BOB_PERSONAL_KEY})
        s.enrol("win-1", serial="PF3WIN001", name="Bob ThinkPad",
                **{**mac, "owner": "bob", "platform": "windows"})
        s.mdm("PUT", "/devices/win-1/recovery-key", {"recovery_key": WIN_KEY, "key_id": WIN_KEY_ID})
        cls.driver = chromium(ARGS.out_dir)
        cls.shot_no = 0

    @classmethod
    def tearDownClass(cls):
        try:
            cls.driver.quit()
        finally:
            cls.stack.close()

    # --- helpers -----------------------------------------------------------------------------

    def shot(self, name):
        type(self).shot_no += 1
        self.driver.save_screenshot(
            os.path.join(ARGS.out_dir, "%02d-%s.png" % (type(self).shot_no, name)))

    def wait(self, condition, timeout=10, what="condition"):
        try:
            return WebDriverWait(self.driver, timeout, poll_frequency=0.1).until(
                lambda d: condition())
        except Exception:
            self.shot("FAILED-" + what.replace(" ", "-")[:40])
            raise AssertionError(f"timed out waiting for {what}") from None

    def visible(self, xpath):
        return [e for e in self.driver.find_elements(By.XPATH, xpath) if e.is_displayed()]

    def button(self, text):
        found = self.wait(lambda: self.visible(f"//button[normalize-space()='{text}']"),
                          what=f"button {text}")
        return found[0]

    def link(self, text):
        return self.wait(lambda: self.visible(f"//a[normalize-space()='{text}']"),
                         what=f"link {text}")[0]

    def field(self, label):
        lab = self.wait(lambda: self.visible(f"//label[normalize-space()='{label}']"),
                        what=f"label {label}")[0]
        return self.driver.find_element(By.ID, lab.get_attribute("for"))

    def see(self, text, timeout=10):
        return self.wait(lambda: self.visible(f"//*[contains(normalize-space(), \"{text}\") and "
                                              f"not(.//*[contains(normalize-space(), \"{text}\")])]"),
                         timeout, what=f"text {text[:40]}")[0]

    def sign_in(self, user):
        d = self.driver
        d.delete_all_cookies()
        d.get(self.stack.url + "/signin")
        self.wait(lambda: self.visible(f"//label[.//span[normalize-space()='{user}']]"),
                  what=f"user {user}")[0].click()
        self.shot(f"signin-{user}")
        self.button("Sign in").click()
        self.wait(lambda: d.find_element(By.ID, "whoami").text.startswith(user), what="signed in")

    def open_device(self, name):
        self.link_containing(name).click()
        self.wait(lambda: self.driver.find_element(By.ID, "device-name").text == name,
                  what=f"device {name}")

    def link_containing(self, text):
        return self.wait(lambda: self.visible(f"//a[.//*[normalize-space()='{text}']]"),
                         what=f"link {text}")[0]

    def search(self, by, text):
        self.link("IT support").click()
        Select(self.field("Search by")).select_by_visible_text(by)
        box = self.field("Search for")
        box.clear()
        box.send_keys(text)
        self.button("Search").click()

    def assert_key_nowhere_in_browser(self):
        d = self.driver
        blob = d.current_url + json.dumps(d.get_cookies())
        blob += d.execute_script(
            "let s='';for(const st of [localStorage,sessionStorage]){for(let i=0;i<st.length;i++)"
            "{const k=st.key(i);s+=k+'='+st.getItem(k)+';'}}return s+document.cookie;")
        blob += d.execute_script("return performance.getEntriesByType('resource')"
                                 ".map(e=>e.name).join(' ')")
        for key in ALL_KEYS:
            self.assertNotIn(key, blob)

    def portal_call(self, method, path, body=None, cookie=None, headers=None):
        ctx = ssl.create_default_context(cafile=self.stack.ca)
        conn = http.client.HTTPSConnection("127.0.0.1", self.stack.portal_port, context=ctx)
        h = dict(headers or {})
        if cookie:
            h["Cookie"] = cookie
        if body is not None:
            h.setdefault("Content-Type", "application/json")
        conn.request(method, path, body, h)
        r = conn.getresponse()
        data = r.read()
        conn.close()
        return r, data

    def session_cookie(self):
        for c in self.driver.get_cookies():
            if c["name"] == "__Host-portal-session":
                return c
        self.fail("no session cookie")

    # --- the stories -------------------------------------------------------------------------

    def test_01_owner_stores_key_typed_twice(self):
        self.sign_in("alice")
        self.see("Alice MacBook Pro")
        self.shot("devices-alice")
        self.open_device("Alice MacBook Pro")
        self.shot("device-alice")
        self.button("Store recovery key").click()
        self.field("Recovery key").send_keys(MAC_KEY)
        confirm = self.field("Confirm recovery key")
        confirm.send_keys(WRONG_CONFIRM)
        error = self.see(MISMATCH)
        self.assertEqual(error.get_attribute("id"), "confirm-error")  # under the second field
        self.button("Save").click()
        self.shot("store-mismatch")
        self.assertNotIn("/recovery-key\",\"status", self.stack.portal.text(),
                         "a mismatched key must not be sent")
        confirm.clear()
        confirm.send_keys(MAC_KEY_TYPED)
        self.wait(lambda: not self.driver.find_element(By.ID, "confirm-error").is_displayed(),
                  what="mismatch cleared")
        self.button("Save").click()
        self.assertEqual(self.see(STORED).text, STORED)
        self.shot("store-success")
        self.see("Stored on")
        self.assert_key_nowhere_in_browser()

    def test_02_owner_gets_key_with_countdown_then_it_disappears(self):
        self.button("Get recovery key").click()
        key = self.wait(lambda: self.driver.find_element(By.ID, "key-value").text, what="key shown")
        self.assertEqual(key, MAC_KEY)
        countdown = self.driver.find_element(By.ID, "countdown").text
        self.assertRegex(countdown, r"^The key disappears in 0:(0\d|10)\.$")
        self.see(DISAPPEARS)
        self.shot("key-shown")
        self.assert_key_nowhere_in_browser()
        # key_display_seconds = 10 in this vault: the key leaves the page at expires_at.
        self.wait(lambda: not self.driver.find_element(By.ID, "key-box").is_displayed(),
                  timeout=15, what="key removed")
        self.assertNotIn(MAC_KEY, self.driver.page_source)
        self.see(DISAPPEARS)
        self.shot("key-gone")
        self.assert_key_nowhere_in_browser()
        self.see("Pending")  # a seen key is a burned key

    def test_03_not_synced_and_not_enabled_in_the_grey_box(self):
        for name, meaning in (("Alice old MacBook", NOT_SYNCED), ("Alice Mac mini", NOT_ENABLED)):
            self.link("Devices").click()
            self.open_device(name)
            self.button("Store recovery key").click()
            self.field("Recovery key").send_keys(MAC_KEY)
            self.field("Confirm recovery key").send_keys(MAC_KEY)
            self.button("Save").click()
            box = self.wait(lambda: self.visible("//div[@id='notice']"), what="grey box")[0]
            self.assertEqual(box.find_element(By.TAG_NAME, "strong").text, UNABLE)
            self.assertIn(meaning, box.text)
            self.shot("grey-box-" + name.replace(" ", "-"))

    def test_04_key_not_found(self):
        self.link("Devices").click()
        self.open_device("Alice iMac")
        self.button("Get recovery key").click()
        self.see(NOT_FOUND)
        self.shot("key-not-found")

    def test_05_it_support_needs_a_reason(self):
        self.sign_in("admin1")
        self.search("Serial number", "C02ALICE1")
        self.open_device("Alice MacBook Pro")
        self.button("Get recovery key").click()
        self.button("Show recovery key").click()
        self.see("Enter a reason before the key is shown.")
        self.assertFalse(self.visible("//code[@id='key-value' and normalize-space()!='']"))
        self.shot("support-reason-required")
        self.field("Reason (required)").send_keys("Ticket 4711: locked out")
        self.button("Show recovery key").click()
        self.wait(lambda: self.driver.find_element(By.ID, "key-value").text == MAC_KEY,
                  what="key for support")
        self.shot("support-key-shown")

    def test_06_it_support_personal_device_refused(self):
        self.search("Owner", "bob")
        self.see("Bob ThinkPad")
        self.shot("support-search-owner")
        self.open_device("Bob personal MacBook")
        self.see(PERSONAL)
        self.assertFalse(self.visible("//button[normalize-space()='Get recovery key']"))
        self.shot("support-personal-device")

    def test_07_it_support_finds_bitlocker_key_id(self):
        self.search("BitLocker key ID", "6b3f1c2a")
        self.see("Bob ThinkPad")
        self.shot("support-search-key-id")

    def test_08_owner_sees_who_viewed_the_key(self):
        self.sign_in("alice")
        self.open_device("Alice MacBook Pro")
        row = self.wait(lambda: self.visible("//tr[td[normalize-space()='admin1']]"),
                        what="access by admin1")[0]
        self.assertIn("Ticket 4711: locked out", row.text)
        self.assertTrue(self.visible("//tr[td[normalize-space()='alice (owner)']]"))
        self.shot("owner-notice")

    def test_09_approvals_request_deny_approve(self):
        self.sign_in("hd1")
        for device, serial in (("Alice MacBook Pro", "C02ALICE1"), ("Bob ThinkPad", "PF3WIN001")):
            self.search("Serial number", serial)
            self.open_device(device)
            self.button("Get recovery key").click()
            self.field("Reason (required)").send_keys("Ticket 99 for " + device)
            self.button("Show recovery key").click()
            self.see("This retrieval needs an approved access request.")
            self.button("Request access").click()
            self.see("Access requested.")
            self.shot("request-" + device.replace(" ", "-"))
        self.sign_in("approver1")
        self.link("Access requests").click()
        deny_row = self.wait(lambda: self.visible("//tr[td[contains(., 'Ticket 99 for Alice')]]"),
                             what="request row")[0]
        deny_row.find_element(By.XPATH, ".//button[normalize-space()='Deny']").click()
        self.see("Request denied.")
        approve_row = self.wait(lambda: self.visible("//tr[td[contains(., 'Ticket 99 for Bob')]]"),
                                what="request row")[0]
        self.shot("requests-pending")
        approve_row.find_element(By.XPATH, ".//button[normalize-space()='Approve']").click()
        self.see("Request approved.")
        Select(self.field("Show")).select_by_visible_text("Denied")
        self.wait(lambda: self.visible("//tr[td[contains(., 'Ticket 99 for Alice')]]"),
                  what="denied row")
        self.shot("requests-denied")
        self.sign_in("hd1")
        self.search("Serial number", "PF3WIN001")
        self.open_device("Bob ThinkPad")
        self.see("Your access request was approved by")
        self.button("Get recovery key").click()
        self.field("Reason (required)").send_keys("Ticket 99 for Bob ThinkPad")
        self.button("Show recovery key").click()
        self.wait(lambda: self.driver.find_element(By.ID, "key-value").text == WIN_KEY,
                  what="approved key")
        self.shot("approved-key-shown")
        self.assert_key_nowhere_in_browser()

    def test_10_accessible_labels_keyboard_zoom(self):
        d = self.driver
        self.sign_in("alice")
        self.open_device("Alice MacBook Pro")
        self.button("Store recovery key").click()
        unlabelled = d.execute_script(
            "return [...document.querySelectorAll('input:not([type=hidden]),select')]"
            ".filter(e=>e.offsetParent&&e.labels.length===0).map(e=>e.id)")
        self.assertEqual(unlabelled, [])
        # Keyboard: the store form's first field has focus; Tab reaches the second, visibly.
        self.assertEqual(d.switch_to.active_element.get_attribute("id"), "recovery-key")
        d.switch_to.active_element.send_keys(Keys.TAB)
        self.assertEqual(d.switch_to.active_element.get_attribute("id"), "confirm-recovery-key")
        d.switch_to.active_element.send_keys(Keys.TAB)
        outline = d.execute_script(
            "return getComputedStyle(document.activeElement).outlineStyle")
        self.assertNotEqual(outline, "none")
        self.shot("keyboard-focus")
        # 200 % zoom of a 1280 px window: 640 CSS px wide, nothing scrolls sideways.
        d.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                          {"width": 1280, "height": 900, "deviceScaleFactor": 2, "mobile": False})
        d.execute_cdp_cmd("Emulation.setPageScaleFactor", {"pageScaleFactor": 1})
        d.set_window_size(640, 900)
        d.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                          {"width": 640, "height": 900, "deviceScaleFactor": 2, "mobile": False})
        d.refresh()
        self.see("Alice MacBook Pro")
        overflow = d.execute_script(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth")
        self.assertLessEqual(overflow, 0)
        self.shot("zoom-200")
        d.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
        d.set_window_size(1280, 900)

    def test_11_security_headers_and_cookie_flags(self):
        cookie = self.session_cookie()
        self.assertTrue(cookie["secure"])
        self.assertTrue(cookie["httpOnly"])
        self.assertEqual(cookie["sameSite"], "Strict")
        self.assertEqual(cookie["path"], "/")
        self.assertNotIn("domain", {k for k, v in cookie.items() if k == "domain" and
                                    v.startswith(".")})
        jar = "__Host-portal-session=" + cookie["value"]
        for path, with_cookie in (("/signin", False), ("/", True), ("/api/session", True),
                                  ("/static/portal.js", True)):
            r, _ = self.portal_call("GET", path, cookie=jar if with_cookie else None)
            self.assertEqual(r.status, 200, path)
            csp = r.getheader("Content-Security-Policy")
            for part in ("default-src 'self'", "frame-ancestors 'none'", "form-action 'self'"):
                self.assertIn(part, csp)
            self.assertNotIn("unsafe-inline", csp)
            self.assertEqual(r.getheader("Cache-Control"), "no-store")
            self.assertEqual(r.getheader("Referrer-Policy"), "no-referrer")
        r, _ = self.portal_call("GET", "/api/session")
        self.assertEqual(r.status, 401)
        for page in glob.glob(os.path.join(os.path.dirname(__file__), "..", "..", "portal",
                                           "static", "*.html")):
            text = open(page).read()
            self.assertNotRegex(text, r"<script(?![^>]*\bsrc=)", page)  # no inline script
            self.assertNotIn("style=", text, page)
            self.assertNotIn("http://", text, page)

    def test_12_csrf_refused_and_vault_checks_mismatch_again(self):
        cookie = self.session_cookie()
        jar = "__Host-portal-session=" + cookie["value"]
        url = self.stack.url + "/api/devices/mac-1/recovery-key/rotate"
        curl = ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--cacert", self.stack.ca,
                "-X", "POST", "-H", "Content-Type: application/json", "-d", "{}", "-b", jar, url]
        self.assertEqual(subprocess.run(curl, capture_output=True, text=True).stdout, "403")
        wrong = curl[:-1] + ["-H", "X-CSRF-Token: " + "A" * 43, url]
        self.assertEqual(subprocess.run(wrong, capture_output=True, text=True).stdout, "403")
        r, data = self.portal_call("GET", "/api/session", cookie=jar)
        csrf = json.loads(data)["csrf"]
        r, _ = self.portal_call("POST", "/api/devices/mac-1/recovery-key/rotate", "{}", jar,
                                {"X-CSRF-Token": csrf, "Sec-Fetch-Site": "cross-site"})
        self.assertEqual(r.status, 403)
        r, _ = self.portal_call("POST", "/auth/signout", "", jar,
                                {"Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual(r.status, 403)
        body = json.dumps({"recovery_key": MAC_KEY, "confirm_recovery_key": WRONG_CONFIRM})
        r, data = self.portal_call("PUT", "/api/devices/mac-1/recovery-key", body, jar,
                                   {"X-CSRF-Token": csrf})
        self.assertEqual(r.status, 400)
        self.assertEqual(json.loads(data)["error"]["code"], "keys_mismatch")
        r, _ = self.portal_call("POST", "/api/devices/mac-1/recovery-key/rotate", "{}", jar,
                                {"X-CSRF-Token": csrf})
        self.assertEqual(r.status, 202)

    def test_13_toast_when_the_vault_is_down(self):
        self.driver.refresh()
        self.see("Alice MacBook Pro")
        self.stack.vault.stop()
        try:
            self.button("Store recovery key").click()
            self.field("Recovery key").send_keys(MAC_KEY)
            self.field("Confirm recovery key").send_keys(MAC_KEY)
            self.button("Save").click()
            toast = self.wait(lambda: self.visible("//div[@id='toast']"), what="toast")[0]
            self.assertEqual(toast.text, "Couldn't update recovery key for Alice MacBook Pro.")
            self.shot("toast-store-503")
            self.button("Rotate").click()
            self.wait(lambda: self.driver.find_element(By.ID, "toast").text == UNAVAILABLE,
                      what="unavailable toast")
            self.shot("toast-rotate-503")
        finally:
            self.stack.start_vault()

    def test_14_no_key_in_logs_or_browser_profile(self):
        self.assert_key_nowhere_in_browser()
        logs = self.stack.logs()
        self.assertIn('"event":"request"', logs)
        for key in ALL_KEYS:
            self.assertNotIn(key, logs)
        # Nothing the browser wrote to disk (history, cache, form data) holds a key.
        profile = os.path.join(ARGS.out_dir, "profile")
        for root, _, files in os.walk(profile):
            for name in files:
                try:
                    data = open(os.path.join(root, name), "rb").read()
                except OSError:
                    continue
                for key in ALL_KEYS:
                    self.assertNotIn(key.encode(), data, os.path.join(root, name))


def main():
    global ARGS
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin-dir", required=True)
    parser.add_argument("--out-dir", required=True)
    parser.add_argument("-k", dest="pattern", default=None)
    ARGS = parser.parse_args()
    loader = unittest.TestLoader()
    if ARGS.pattern:
        loader.testNamePatterns = [f"*{ARGS.pattern}*"]
    suite = loader.loadTestsFromTestCase(PortalStories)
    result = unittest.TextTestRunner(verbosity=2, failfast=True).run(suite)
    sys.exit(0 if result.wasSuccessful() else 1)


if __name__ == "__main__":
    main()
