"""The real stack for the browser tests: a dev state from `vaultctl init --dev`, vaultd and
portald on free loopback ports, an MDM client for seeding, and headless Debian Chromium."""

import http.client
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import tempfile
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Process:
    """A server started with its stderr in a file; ready once it logs {"event":"ready"}."""

    def __init__(self, name, argv, log_path, env=None):
        self.name = name
        self.log_path = log_path
        self.log = open(log_path, "wb")
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT, env=env)
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{name} exited: {self.text()}")
            if '"event":"ready"' in self.text():
                return
            time.sleep(0.05)
        raise RuntimeError(f"{name} not ready: {self.text()}")

    def text(self):
        with open(self.log_path, "r", errors="replace") as f:
            return f.read()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


class Stack:
    def __init__(self, bin_dir, out_dir, key_display_seconds=10, approval_roles=("helpdesk",),
                 before_start=None):
        self.bin_dir = bin_dir
        self.out_dir = out_dir
        self.tmp = tempfile.mkdtemp(prefix="portal-browser-")
        self.state = os.path.join(self.tmp, "state")
        self.vault_port = free_port()
        subprocess.run([os.path.join(bin_dir, "tools", "vaultctl"), "init", "--state-dir",
                        self.state, "--dev", "--listen", f"127.0.0.1:{self.vault_port}"],
                       check=True, stdout=subprocess.DEVNULL)
        conf = os.path.join(self.state, "vault.conf")
        text = open(conf).read()
        text = re.sub(r"key_display_seconds = \d+", f"key_display_seconds = {key_display_seconds}",
                      text)
        roles = ", ".join(f"'{r}'" for r in approval_roles)
        text = re.sub(r"approvals = \{ roles = \[[^\]]*\]", f"approvals = {{ roles = [{roles}]",
                      text)
        open(conf, "w").write(text)
        self.vault = None
        self.portal = None
        self.portal_port = free_port()
        self.ca = os.path.join(self.state, "tls", "ca.crt")
        if before_start is not None:
            before_start(self)  # e.g. production sign-in: edit vault.conf, write portal.conf
        self.start_vault()
        self.portal = Process("portald", [os.path.join(bin_dir, "portal", "portald"), "--config",
                                          os.path.join(self.state, "portal.conf"), "--listen",
                                          f"127.0.0.1:{self.portal_port}"],
                              os.path.join(out_dir, "portald.log"))
        self.url = f"https://127.0.0.1:{self.portal_port}"

    def start_vault(self):
        self.vault = Process("vaultd", [os.path.join(self.bin_dir, "tools", "vaultd"), "--config",
                                        os.path.join(self.state, "vault.conf"), "--listen",
                                        f"127.0.0.1:{self.vault_port}"],
                             os.path.join(self.out_dir, "vaultd.log"))

    def mdm(self, method, path, body=None):
        ctx = ssl.create_default_context(cafile=os.path.join(self.state, "tls", "ca.crt"))
        clients = os.path.join(self.state, "tls", "clients")
        ctx.load_cert_chain(os.path.join(clients, "mdm.crt"), os.path.join(clients, "mdm.key"))
        conn = http.client.HTTPSConnection("127.0.0.1", self.vault_port, context=ctx, timeout=30)
        headers = {"Content-Type": "application/json"} if body is not None else {}
        conn.request(method, "/v1" + path, json.dumps(body) if body is not None else None, headers)
        r = conn.getresponse()
        data = r.read()
        conn.close()
        if r.status >= 300:
            raise RuntimeError(f"mdm {method} {path}: {r.status} {data!r}")
        return json.loads(data) if data else None

    def enrol(self, device_id, checkin=True, **fields):
        self.mdm("PUT", f"/devices/{device_id}", fields)
        if checkin:
            self.mdm("POST", f"/devices/{device_id}/checkin")

    def logs(self):
        return self.vault.text() + self.portal.text()

    def close(self):
        for p in (self.portal, self.vault):
            if p is not None:
                p.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)


def chromium(out_dir):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1280,900", "--no-first-run", "--disable-extensions",
                "--password-store=basic", f"--user-data-dir={os.path.join(out_dir, 'profile')}"):
        options.add_argument(arg)
    # The dev CA is not in the system store; TLS still runs, only the chain is not checked.
    options.accept_insecure_certs = True
    service = Service("/usr/bin/chromedriver", log_output=os.path.join(out_dir, "chromedriver.log")) \
        if "log_output" in Service.__init__.__code__.co_varnames \
        else Service("/usr/bin/chromedriver", log_path=os.path.join(out_dir, "chromedriver.log"))
    return webdriver.Chrome(service=service, options=options)
