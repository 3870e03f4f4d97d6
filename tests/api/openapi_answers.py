#!/usr/bin/env python3
"""Checks answers vaultd gave against api/openapi.yaml.

  openapi_answers.py DOCUMENT ANSWERS.jsonl   exit 0 if every answer fits the document
  openapi_answers.py --self-test DOCUMENT     exit 0 if answers that break it are caught
  openapi_answers.py --coverage DOCUMENT SEEN  which documented answers SEEN never had

With ESCROW_OPENAPI_COVERAGE=FILE in the environment, each checked answer also appends
"METHOD TEMPLATE STATUS" to FILE; --coverage then lists the operations and the documented
statuses no test saw (e.g. ESCROW_OPENAPI_COVERAGE=/tmp/seen ctest -R e2e-names).

ANSWERS.jsonl holds one JSON object a line, as tests/e2e/vault_process.cc writes them with
ESCROW_E2E_OPENAPI=1: {"method", "path" (the target, query included), "status", "headers"
(lower-case names), "body"}. Each answer is matched to its operation by the document's path
templates; its status must be one the operation documents, its body must fit that response's
schema (JSON) and its headers the documented ones. A path no template matches must be
404 `not_found`, a method a documented path lacks 405 `method_not_allowed` with `Allow`
(unless an earlier check, 401, 431 or 429, answered first).
"""

import json
import os
import re
import sys

from openapi_support import DOCUMENT_URI, errors_of, json_pointer, load_yaml, make_validator

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
# Statuses that the order of checks puts before routing (API.md "Who is calling").
BEFORE_ROUTING = {401, 429, 431}


class Checker:
    def __init__(self, doc):
        self.doc = doc
        self.templates = []
        for path in doc["paths"]:
            pattern = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(path)) + "$"
            self.templates.append((path, re.compile(pattern)))
        self.validators = {}

    def resolve(self, node):
        while isinstance(node, dict) and "$ref" in node:
            cur = self.doc
            for part in node["$ref"][2:].split("/"):
                cur = cur[part.replace("~1", "/").replace("~0", "~")]
            node = cur
        return node

    def schema_errors(self, pointer, instance):
        if pointer not in self.validators:
            self.validators[pointer] = make_validator(
                {"$ref": DOCUMENT_URI + pointer}, {DOCUMENT_URI: self.doc})
        return errors_of(self.validators[pointer], instance)

    def template_of(self, path):
        # A literal segment beats a parameter: /v1/escrow-certificates/current is not {id}.
        matches = [t for t, rx in self.templates if rx.match(path)]
        matches.sort(key=lambda t: t.count("{"))
        return matches[0] if matches else None

    def check(self, answer):
        """Problems with one answer (an empty list if it fits)."""
        method = answer["method"].lower()
        path = answer["path"].split("?", 1)[0]
        status = int(answer["status"])
        headers = answer.get("headers") or {}
        body = answer.get("body", "")
        where = answer["method"] + " " + answer["path"][:120] + " " + str(status)
        template = self.template_of(path)
        problems = []
        if headers.get("cache-control") != "no-store":
            problems.append("Cache-Control is not no-store")
        if not headers.get("x-request-id"):
            problems.append("no X-Request-Id")
        if status == 429 and not re.fullmatch(r"[1-9][0-9]*", headers.get("retry-after", "")):
            problems.append("429 without Retry-After")
        operation = None
        if template is not None and method in self.doc["paths"][template]:
            operation = self.doc["paths"][template][method]
        if operation is None:
            # Not a documented operation: only the errors before routing, or 404 / 405.
            expected = 404 if template is None else 405
            if status not in BEFORE_ROUTING | {expected}:
                problems.append("an undocumented route answered " + str(status) +
                                " (expected " + str(expected) + ")")
            elif status == 405 and not headers.get("allow"):
                problems.append("405 without Allow")
            else:
                name = "Error" + str(status)
                if status == 404:
                    problems += self.error_code_problems(body, "not_found")
                if name in self.doc["components"]["schemas"]:
                    problems += self.json_problems(
                        json_pointer("components", "schemas", name), body)
            return [where + ": " + p for p in problems]
        responses = operation.get("responses", {})
        key = str(status) if str(status) in responses else (
            "default" if "default" in responses else None)
        if key is None:
            problems.append("status " + str(status) + " is not documented for " +
                            method.upper() + " " + template)
            return [where + ": " + p for p in problems]
        response_pointer = json_pointer("paths", template, method, "responses", key)
        response = self.resolve(responses[key])
        if "$ref" in responses[key]:
            response_pointer = responses[key]["$ref"]
        for name, header in (response.get("headers") or {}).items():
            if self.resolve(header).get("required") and name.lower() not in headers:
                problems.append("documented header " + name + " is missing")
        content = response.get("content") or {}
        if not content:
            if body:
                problems.append("a body where the document has none")
            return [where + ": " + p for p in problems]
        content_type = headers.get("content-type", "")
        media = content_type if content_type in content else content_type.split(";")[0].strip()
        if media not in content:
            problems.append("Content-Type " + content_type + " is not one of " +
                            ", ".join(content))
        elif media == "application/json":
            problems += self.json_problems(
                response_pointer + "/content/application~1json/schema", body)
        return [where + ": " + p for p in problems]

    def json_problems(self, pointer, body):
        try:
            instance = json.loads(body)
        except ValueError:
            return ["the body is not JSON: " + body[:120]]
        return self.schema_errors(pointer, instance)

    @staticmethod
    def error_code_problems(body, code):
        try:
            got = json.loads(body)["error"]["code"]
        except (ValueError, KeyError, TypeError):
            return ["not an error body"]
        return [] if got == code else ["error code " + str(got) + ", expected " + code]


def read_answers(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        return [json.loads(line) for line in f if line.strip()]


def self_test(checker):
    """Answers that break the document must be caught and fitting ones pass; returns the
    names of the cases that went wrong."""
    h = {"cache-control": "no-store", "x-request-id": "r1", "content-type": "application/json"}
    device = {"id": "mac-1", "serial": "S", "name": "N", "platform": "macos",
              "ownership": "corporate", "owner": "alice", "encryption_enabled": True,
              "has_recovery_key": False, "key_version": None, "key_stored_at": None,
              "rotation_pending": False, "rotation_requested_at": None,
              "rotation_overdue": False, "last_checkin_at": "2026-12-07T01:02:03Z",
              "escrow_verified_at": None}

    def answer(method, path, status, body, headers=h):
        return {"method": method, "path": path, "status": status, "headers": dict(headers),
                "body": body if isinstance(body, str) else json.dumps(body)}

    def error(code):
        return {"error": {"code": code, "message": "m"}}

    good = {
        "a device": answer("GET", "/v1/devices/mac-1", 200, device),
        "health": answer("GET", "/v1/health", 200, {"status": "ok"}),
        "a 404 of a device": answer("GET", "/v1/devices/x", 404, error("device_not_found")),
        "an unknown path": answer("GET", "/v1/nope?x=1", 404, error("not_found")),
        "a wrong method": answer("DELETE", "/v1/devices/x", 405, error("method_not_allowed"),
                                 dict(h, allow="GET, PUT")),
        "metrics": answer("GET", "/v1/metrics", 200, "# HELP x\n",
                          dict(h, **{"content-type": "text/plain; version=0.0.4"})),
        "the fleet certificate, not a device": answer(
            "GET", "/v1/escrow-certificates/current", 409, error("conflict")),
    }
    bad = {
        "a device without a field": answer(
            "GET", "/v1/devices/mac-1", 200, {k: v for k, v in device.items() if k != "owner"}),
        "a device with an undocumented field": answer(
            "GET", "/v1/devices/mac-1", 200, dict(device, extra=1)),
        "a timestamp that is not RFC 3339 UTC": answer(
            "GET", "/v1/devices/mac-1", 200, dict(device, last_checkin_at="yesterday")),
        "an undocumented status": answer("GET", "/v1/devices/mac-1", 418, error("forbidden")),
        "a code of another status": answer("GET", "/v1/devices/x", 404, error("forbidden")),
        "an unknown path that is not 404": answer("GET", "/v1/nope", 200, {}),
        "a 405 without Allow": answer("DELETE", "/v1/devices/x", 405,
                                      error("method_not_allowed")),
        "no Cache-Control": answer("GET", "/v1/health", 200, {"status": "ok"},
                                   {"x-request-id": "r", "content-type": "application/json"}),
        "a 429 without Retry-After": answer("GET", "/v1/devices/x", 429, error("rate_limited")),
        "a body that is not JSON": answer("GET", "/v1/health", 200, "ok"),
        "another media type": answer("GET", "/v1/health", 200, {"status": "ok"},
                                     dict(h, **{"content-type": "text/html"})),
    }
    wrong = [n for n, a in good.items() if checker.check(a)]
    wrong += [n for n, a in bad.items() if not checker.check(a)]
    return wrong


def coverage(doc, seen_path):
    with open(seen_path, encoding="utf-8") as f:
        seen = {line.strip() for line in f if line.strip()}
    statuses = 0
    unseen = []
    for template, item in doc["paths"].items():
        for method in METHODS:
            if method not in item:
                continue
            codes = list(item[method].get("responses", {}))
            hit = [c for c in codes if method.upper() + " " + template + " " + c in seen]
            statuses += len(hit)
            if not any(c.startswith("2") for c in hit):
                unseen.append(method.upper() + " " + template + ": no 2xx answer seen")
            missing = sorted(set(codes) - set(hit))
            print(method.upper() + " " + template + ": seen " + " ".join(sorted(hit)) +
                  "; never " + " ".join(missing))
    print(str(statuses) + " documented (operation, status) pairs seen")
    for line in unseen:
        print(line)


def main(argv):
    if len(argv) == 4 and argv[1] == "--coverage":
        coverage(load_yaml(argv[2]), argv[3])
        return 0
    if len(argv) == 3 and argv[1] == "--self-test":
        wrong = self_test(Checker(load_yaml(argv[2])))
        for name in wrong:
            print("openapi_answers: self-test case went wrong: " + name, file=sys.stderr)
        return 1 if wrong else 0
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    checker = Checker(load_yaml(argv[1]))
    answers = read_answers(argv[2])
    problems = []
    seen_path = os.environ.get("ESCROW_OPENAPI_COVERAGE")
    for a in answers:
        problems += checker.check(a)
        template = checker.template_of(a["path"].split("?", 1)[0])
        if seen_path and template is not None:
            with open(seen_path, "a", encoding="utf-8") as f:
                f.write(a["method"].upper() + " " + template + " " + str(a["status"]) + "\n")
    for p in problems:
        print("openapi_answers: " + p, file=sys.stderr)
    print("openapi_answers: " + str(len(answers)) + " answers, " + str(len(problems)) +
          " problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
