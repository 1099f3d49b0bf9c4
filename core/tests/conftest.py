"""pytest's progress column stays honest with the schemathesis fuzz test in the run.

schemathesis runs each documented operation as a subtest of ``test_documented_endpoints_never_fail``
and adds one to pytest's collected count per operation; at the default verbosity (``make test``)
it reports a passing one with no letter, so pytest never counts it as done and the run ended at
~87%. Each operation is reported here as it is with ``-q`` or ``-v``: a ``u``, counted.
"""

import pytest
from schemathesis.pytest._subtests import is_subtest_report


# A wrapper: schemathesis registers its own answer after this conftest, so it would come first.
@pytest.hookimpl(wrapper=True)
def pytest_report_teststatus(report: pytest.TestReport, config: pytest.Config):
    status = yield
    if report.when != "call" or config.get_verbosity() != 0 or not is_subtest_report(report):
        return status
    if report.passed:
        return "subtests passed", "u", "SUBPASSED"
    if report.skipped:
        return report.outcome, "-", "SUBSKIPPED"
    return status
