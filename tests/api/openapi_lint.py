#!/usr/bin/env python3
"""Lints api/openapi.yaml offline.

  openapi_lint.py DOCUMENT SCHEMA_DIR              exit 0 if the document passes every check
  openapi_lint.py --self-test DOCUMENT SCHEMA_DIR  exit 0 if every check catches its own fault

The checks:
  1. the official OpenAPI 3.1 meta-schema (schema-base.json, 2022-10-07, vendored in
     SCHEMA_DIR), which also checks every Schema Object against the OpenAPI 3.1 base dialect
     (JSON Schema 2020-12 plus the OAS vocabulary);
  2. what the meta-schema can't: every $ref resolves inside the document (no other document
     is referred to); every operation has an operationId, and they are unique; every
     {parameter} of a path template is declared `in: path` (required) by the path item or the
     operation, and every declared path parameter is in the template; every operation lists
     its callers (x-callers) and every response has a description;
  3. the layout tests/api/openapi_routes_test.cc reads without a YAML library: each path is
     a line "  /path:" and each operation a line "    method:", so that reader and a YAML
     parser see the same routes.
"""

import copy
import re
import sys

from openapi_support import errors_of, load_meta_schemas, load_yaml, make_validator

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
CALLERS = {"anyone", "owner", "helpdesk", "admin", "auditor", "approver", "mdm", "notifier"}
BASE_SCHEMA_ID = "https://spec.openapis.org/oas/3.1/schema-base/2022-10-07"


def check_meta_schema(doc, meta):
    validator = make_validator(meta[BASE_SCHEMA_ID], meta)
    return ["meta-schema: " + e for e in errors_of(validator, doc)]


def resolve_pointer(doc, ref):
    node = doc
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None, False
    return node, True


def check_refs(doc):
    problems = []

    def walk(node, where):
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str):
                if not ref.startswith("#/"):
                    problems.append(where + ": $ref " + ref + " leaves the document")
                elif not resolve_pointer(doc, ref)[1]:
                    problems.append(where + ": $ref " + ref + " does not resolve")
            for k, v in node.items():
                walk(v, where + "/" + str(k))
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, where + "/" + str(i))

    walk(doc, "#")
    return problems


def deref(doc, node):
    """`node`, or what its $ref names (one level; components refer no further for these)."""
    while isinstance(node, dict) and isinstance(node.get("$ref"), str):
        node, found = resolve_pointer(doc, node["$ref"])
        if not found:
            return {}
    return node


def operations(doc):
    for path, item in (doc.get("paths") or {}).items():
        for method in METHODS:
            if isinstance(item, dict) and method in item:
                yield path, method, item, item[method]


def check_operations(doc):
    problems = []
    seen = {}
    for path, method, item, op in operations(doc):
        where = method.upper() + " " + path
        op_id = op.get("operationId")
        if not op_id:
            problems.append(where + ": no operationId")
        elif op_id in seen:
            problems.append(where + ": operationId " + op_id + " also names " + seen[op_id])
        else:
            seen[op_id] = where
        callers = op.get("x-callers")
        if not isinstance(callers, list) or not callers or not set(callers) <= CALLERS:
            problems.append(where + ": x-callers must list callers among " +
                            ", ".join(sorted(CALLERS)))
        for status, response in (op.get("responses") or {}).items():
            if not deref(doc, response).get("description"):
                problems.append(where + ": response " + str(status) + " has no description")
        # Path parameters: the template's names, declared in: path and required, no others.
        in_template = re.findall(r"\{([^}]+)\}", path)
        declared = {}
        for param in list(item.get("parameters") or []) + list(op.get("parameters") or []):
            p = deref(doc, param)
            if p.get("in") == "path":
                declared[p.get("name")] = p
        for name in in_template:
            if name not in declared:
                problems.append(where + ": path parameter {" + name + "} is not declared")
            elif declared[name].get("required") is not True:
                problems.append(where + ": path parameter {" + name + "} is not required")
        for name in declared:
            if name not in in_template:
                problems.append(where + ": path parameter " + str(name) +
                                " is not in the template")
    return problems


def check_layout(doc, text):
    lines = set(text.splitlines())
    problems = []
    for path, method, _item, _op in operations(doc):
        if "  " + path + ":" not in lines:
            problems.append(path + ": not on a line of its own at two spaces")
        # The method line must come under its path's line, before the next path's.
        block = text.split("\n  " + path + ":\n", 1)[-1].split("\n  /", 1)[0]
        if not re.search(r"(^|\n)    " + method + r":\n", block):
            problems.append(method.upper() + " " + path + ": not a line of its own at four spaces")
    return problems


def lint(doc, text, meta):
    return (check_meta_schema(doc, meta) + check_refs(doc) + check_operations(doc) +
            check_layout(doc, text))


def self_test(doc, text, meta):
    """Each check must catch a fault made on purpose; returns what it missed."""
    missed = []

    def expect(name, mutate, layout_text=None):
        bad = copy.deepcopy(doc)
        mutate(bad)
        if not lint(bad, layout_text if layout_text is not None else text, meta):
            missed.append(name)

    def first_op(d):
        return d["paths"]["/v1/devices/{id}"]["get"]

    expect("a member the meta-schema refuses", lambda d: d["info"].update({"titel": "x"}))
    expect("a Schema Object outside the dialect",
           lambda d: d["components"]["schemas"].update({"Bad": {"type": "integr"}}))
    expect("a response without its required description",
           lambda d: first_op(d)["responses"].update({"418": {}}))
    expect("a $ref that does not resolve",
           lambda d: first_op(d)["responses"].update(
               {"418": {"$ref": "#/components/responses/Missing"}}))
    expect("a duplicate operationId", lambda d: first_op(d).update({"operationId": "putDevice"}))
    expect("an undeclared path parameter", lambda d: d["paths"]["/v1/devices/{id}"].pop(
        "parameters"))
    expect("a path parameter not in the template",
           lambda d: d["paths"]["/v1/audit"]["get"]["parameters"].append(
               {"name": "x", "in": "path", "required": True, "schema": {"type": "string"}}))
    expect("an operation without its callers", lambda d: first_op(d).pop("x-callers"))
    expect("a path not on a line of its own",
           lambda d: None, text.replace("\n  /v1/metrics:\n", "\n  '/v1/metrics':\n"))
    expect("a method not on a line of its own",
           lambda d: None, text.replace("\n    put:\n", "\n    'put':\n", 1))
    return missed


def main(argv):
    self_testing = len(argv) == 4 and argv[1] == "--self-test"
    if len(argv) != 3 and not self_testing:
        print(__doc__, file=sys.stderr)
        return 2
    doc_path, schema_dir = argv[-2], argv[-1]
    with open(doc_path, encoding="utf-8") as f:
        text = f.read()
    doc = load_yaml(doc_path)
    meta = load_meta_schemas(schema_dir)
    if self_testing:
        missed = self_test(doc, text, meta)
        for name in missed:
            print("openapi_lint: missed " + name, file=sys.stderr)
        return 1 if missed else 0
    problems = lint(doc, text, meta)
    for p in problems:
        print(doc_path + ": " + p, file=sys.stderr)
    if not problems:
        count = sum(1 for _ in operations(doc))
        print("openapi_lint: " + doc_path + " is valid (" + str(count) + " operations)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
