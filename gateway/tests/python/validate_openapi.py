"""Validates an OpenAPI document against the OpenAPI 3.1 schema (openapi-spec-validator)."""

import json
import sys

from openapi_spec_validator import validate
from openapi_spec_validator.validation import OpenAPIV31SpecValidator

with open(sys.argv[1], encoding="utf-8") as f:
    spec = json.load(f)
assert spec["openapi"].startswith("3.1"), spec["openapi"]
validate(spec, cls=OpenAPIV31SpecValidator)
print("valid OpenAPI", spec["openapi"])
