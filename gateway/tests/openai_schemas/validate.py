"""Validates answers against OpenAI's response schemas (`schemas.json` beside this script).

    python validate.py ANSWERS.json

ANSWERS.json is a list of {"schema": NAME, "label": TEXT, "value": JSON}. Every answer is checked
against `#/components/schemas/NAME` as JSON Schema 2020-12 (the dialect of OpenAPI 3.1, which
the description declares). Required properties, types and enums must hold; properties a schema
does not name are allowed, as OpenAI's schemas allow them. Formats (`unixtime`, `float`) are
annotations, not checked.

The description still writes some schemas in OpenAPI 3.0 style, `nullable: true` beside a
`type`; JSON Schema 2020-12 ignores that keyword, which would make those values non-nullable.
They are read as "this schema, or null" (what 3.0 meant), rewritten before validating.

Prints every failure with its label and JSON path and exits 1 if there was one; otherwise
prints `validated N answers` and how many per schema.
"""

import collections
import json
import pathlib
import sys

from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

HERE = pathlib.Path(__file__).resolve().parent


def or_null(node):
    """The schema tree with every `nullable: true` rewritten as `anyOf: [schema, null]`."""
    if isinstance(node, list):
        return [or_null(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: or_null(value) for key, value in node.items()}
    if node.pop("nullable", False) is True:
        return {"anyOf": [node, {"type": "null"}]}
    node.pop("nullable", None)
    return node


def load_document():
    with open(HERE / "schemas.json", encoding="utf-8") as f:
        document = json.load(f)
    document["components"] = or_null(document["components"])
    return document


def describe(error):
    """The error, and for a failed anyOf/oneOf the reasons each branch failed."""
    lines = [f"{error.json_path}: {error.message}"]
    for sub in sorted(error.context or (), key=lambda e: list(e.schema_path)):
        lines.append(f"    branch {list(sub.schema_path)[:1]}: {sub.json_path}: {sub.message}")
    return lines


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    document = load_document()
    uri = "urn:openai-openapi"
    registry = Registry().with_resource(
        uri, Resource.from_contents(document, default_specification=DRAFT202012)
    )
    schemas = document["components"]["schemas"]
    with open(sys.argv[1], encoding="utf-8") as f:
        answers = json.load(f)

    failures = []
    counts = collections.Counter()
    for answer in answers:
        name, label, value = answer["schema"], answer["label"], answer["value"]
        if name not in schemas:
            failures.append(f"{label}: no schema {name!r} in schemas.json (see extract.py)")
            continue
        validator = Draft202012Validator(
            {"$ref": f"{uri}#/components/schemas/{name}"}, registry=registry
        )
        errors = sorted(validator.iter_errors(value), key=lambda e: list(e.path))
        counts[name] += 1
        for error in errors:
            failures.append(f"{label} ({name}):\n  " + "\n  ".join(describe(error)))

    if failures:
        print(f"{len(failures)} schema violation(s) in {len(answers)} answers:")
        for failure in failures:
            print(failure)
        sys.exit(1)
    print(f"validated {sum(counts.values())} answers")
    for name, count in sorted(counts.items()):
        print(f"  {name}: {count}")


if __name__ == "__main__":
    main()
