"""The other half of the API's operations, fuzzed as test_api_fuzz.py fuzzes its own (its own
file, so that a second test worker takes it)."""

import pytest

from core.tests.test_api_fuzz import EXAMPLES, HANG_GUARD, api_schema, fuzz, half, schema

pytestmark = pytest.mark.heavy(140)

__all__ = ["api_schema"]  # the fixture the lazy schema is read from


@schema.include(half(1)).parametrize()
@HANG_GUARD
@EXAMPLES
def test_documented_endpoints_never_fail(case, user):
    fuzz(case, user)
