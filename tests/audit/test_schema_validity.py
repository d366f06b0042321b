"""The schemas themselves are valid JSON Schema (checked here once, not on every run written)."""
import jsonschema
import pytest

from deepaudit.audit.report.schema import report_schema
from deepaudit.audit.schema import RESULT_SCHEMA, first_violation


@pytest.mark.parametrize("schema", [RESULT_SCHEMA, report_schema()], ids=["result", "report"])
def test_schema_is_valid_against_its_metaschema(schema):
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)   # raises SchemaError on a malformed schema


def test_first_violation_matches_jsonschema_validate():
    schema = {"type": "object", "required": ["a"],
              "properties": {"a": {"type": "integer"}, "b": {"type": "array", "items": {"type": "string"}}}}
    for bad in ({"b": ["x"]}, {"a": "1"}, {"a": 1, "b": ["x", 2]}):
        with pytest.raises(jsonschema.ValidationError) as exc:
            jsonschema.validate(bad, schema)
        got = first_violation(schema, bad)
        assert got is not None and got.message == exc.value.message
        assert list(got.absolute_path) == list(exc.value.absolute_path)
    assert first_violation(schema, {"a": 1, "b": ["x"]}) is None
