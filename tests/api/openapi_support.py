"""Offline JSON Schema validation for api/openapi.yaml, shared by openapi_lint.py and
openapi_answers.py.

Works with Debian 12's python3-jsonschema (4.10, RefResolver) and with later releases (4.18+,
the `referencing` registry). Every schema a $ref may name is loaded from api/openapi-schema/ or
from jsonschema's own copy of the JSON Schema 2020-12 meta-schemas: nothing is fetched, and a
reference to anything else fails instead of reaching the network.
"""

import json
import os

import jsonschema
import yaml
from jsonschema.validators import Draft202012Validator

# The vendored OpenAPI 3.1 meta-schemas (api/openapi-schema/SOURCE.md says where from).
SCHEMA_FILES = (
    "schema.json",
    "schema-base.json",
    "dialect/base.schema.json",
    "meta/base.schema.json",
)
# The id under which the document itself is registered, so that a schema can name any part of
# it by JSON pointer. An https URI (never fetched: .invalid, and the store has it), because
# jsonschema 4.10 joins relative references with urllib, which leaves urn: bases alone.
DOCUMENT_URI = "https://escrow-vault.invalid/api/openapi.yaml"


class OfflineRefError(Exception):
    pass


def load_yaml(path):
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f)


def load_meta_schemas(schema_dir):
    """{$id: schema} of the vendored meta-schemas."""
    out = {}
    for name in SCHEMA_FILES:
        with open(os.path.join(schema_dir, name), encoding="utf-8") as f:
            schema = json.load(f)
        out[schema["$id"]] = schema
    return out


def _refuse_remote(uri):
    raise OfflineRefError("refusing to fetch " + uri + ": every schema must be vendored")


def make_validator(schema, store):
    """A Draft 2020-12 validator of `schema` that resolves $refs only within `store` ({uri:
    document}) and the JSON Schema meta-schemas jsonschema ships."""
    try:
        import referencing  # jsonschema 4.18 and later
        import referencing.jsonschema

        def retrieve(uri):
            _refuse_remote(uri)

        resources = [
            (uri, referencing.Resource.from_contents(
                doc, default_specification=referencing.jsonschema.DRAFT202012))
            for uri, doc in store.items()
        ]
        registry = referencing.Registry(retrieve=retrieve).with_resources(resources)
        return Draft202012Validator(schema, registry=registry)
    except ImportError:
        resolver = jsonschema.RefResolver.from_schema(
            schema, store=dict(store),
            handlers={"http": _refuse_remote, "https": _refuse_remote})
        return Draft202012Validator(schema, resolver=resolver)


def errors_of(validator, instance):
    """Every validation error, as one line each (path: message)."""
    out = []
    for e in sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path)):
        where = "/".join(str(p) for p in e.absolute_path) or "(top)"
        # The deepest causes say more than "is not valid under any of the given schemas".
        causes = [c for c in (e.context or []) if c.validator != "$ref"]
        detail = "; ".join(sorted({c.message[:160] for c in causes}))[:600]
        out.append(where + ": " + e.message[:300] + (" [" + detail + "]" if detail else ""))
    return out


def json_pointer(*parts):
    """'#/a~1b/c' from ('a/b', 'c')."""
    return "#/" + "/".join(str(p).replace("~", "~0").replace("/", "~1") for p in parts)
