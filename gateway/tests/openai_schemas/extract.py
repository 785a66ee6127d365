"""Writes the part of OpenAI's published OpenAPI description that the schema suite needs.

The full description (github.com/openai/openai-openapi, MIT) is 3 MB; the suite validates
omnigate's answers against a handful of response schemas. This script takes those schemas and
every schema they reference (the transitive `$ref` closure) from `openapi.json` at one commit
of a checkout, and prints them as one JSON document whose `$ref`s still resolve
(`#/components/schemas/...`), with the commit it came from.

    python3 extract.py CHECKOUT [REV] > schemas.json

Standard library only; the output is the same on every machine for the same commit.
"""

import json
import subprocess
import sys

UPSTREAM = "https://github.com/openai/openai-openapi"

# The response schemas the suite validates answers against (names as the description spells
# them). Add one here, rerun, and commit the new schemas.json.
ROOTS = [
    "ListModelsResponse",
    "Model",
    "CreateEmbeddingResponse",
    "CreateChatCompletionResponse",
    "CreateChatCompletionStreamResponse",
    "CreateTranscriptionResponseJson",
    "CreateTranscriptionResponseVerboseJson",
    "TranscriptTextDeltaEvent",
    "TranscriptTextDoneEvent",
    "ErrorResponse",
]

PREFIX = "#/components/schemas/"


def git(checkout, *args):
    return subprocess.run(
        ["git", "-C", checkout, *args], check=True, capture_output=True
    ).stdout


def references(node, found):
    """Adds the name of every component schema `node` refers to."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                if not value.startswith(PREFIX):
                    sys.exit(f"unexpected reference {value!r}")
                found.add(value[len(PREFIX) :])
            else:
                references(value, found)
    elif isinstance(node, list):
        for value in node:
            references(value, found)


def closure(schemas, roots):
    keep, todo = set(), list(roots)
    while todo:
        name = todo.pop()
        if name in keep:
            continue
        if name not in schemas:
            sys.exit(f"no schema {name!r} in the description")
        keep.add(name)
        found = set()
        references(schemas[name], found)
        todo.extend(found - keep)
    return keep


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    checkout = sys.argv[1]
    rev = sys.argv[2] if len(sys.argv) == 3 else "HEAD"
    commit = git(checkout, "rev-parse", f"{rev}^{{commit}}").decode().strip()
    spec = json.loads(git(checkout, "show", f"{commit}:openapi.json"))
    schemas = spec["components"]["schemas"]
    keep = closure(schemas, ROOTS)
    out = {
        "x-source": {
            "repository": UPSTREAM,
            "commit": commit,
            "file": "openapi.json",
            "openapi": spec["openapi"],
            "info.version": spec["info"]["version"],
            "roots": ROOTS,
        },
        "components": {"schemas": {name: schemas[name] for name in sorted(keep)}},
    }
    json.dump(out, sys.stdout, indent=1, sort_keys=True, ensure_ascii=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
