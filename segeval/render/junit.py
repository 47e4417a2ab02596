"""JUnit XML for quality gates: one test case per check, so CI shows failed thresholds."""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree

from segeval.gate import GateResult

__all__ = ["render_junit"]


def render_junit(gate: GateResult, suite: str = "segeval") -> str:
    """A JUnit XML document with one ``testcase`` per check.

    Parameters
    ----------
    gate : GateResult
        The checks (thresholds or regressions).
    suite : str, default "segeval"
        The test-suite name.

    Returns
    -------
    str
        UTF-8 XML with a declaration, ending with a newline.

    Examples
    --------
    >>> from segeval.gate import Check
    >>> xml = render_junit(GateResult((Check("miou", 0.6, 0.7, ">=", False),)))
    >>> '<failure message="miou = 0.6000 (required &gt;= 0.7000)"' in xml
    True
    """
    failures = len(gate.failed)
    root = ElementTree.Element(
        "testsuites", name=suite, tests=str(len(gate.checks)), failures=str(failures)
    )
    suite_element = ElementTree.SubElement(
        root, "testsuite", name=suite, tests=str(len(gate.checks)), failures=str(failures),
        errors="0", skipped="0",
    )  # fmt: skip
    for check in gate.checks:
        case = ElementTree.SubElement(
            suite_element, "testcase", classname=suite, name=check.name, time="0"
        )
        if not check.passed:
            message = check.describe().removeprefix("FAIL ")
            failure = ElementTree.SubElement(case, "failure", message=message, type="threshold")
            failure.text = message
    ElementTree.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ElementTree.tostring(root, "unicode") + "\n"
