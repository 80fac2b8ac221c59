"""PEP 3333 conformance checking with ``wsgiref.validate``'s API: a thin face over the engine.

``validator(app)`` behaves like ``wsgiref.validate.validator`` (same public names, the same
``AssertionError`` text for every check wsgiref makes) and checks much more. :class:`Validator`
is the engine behind it with three modes: ``raise`` (errors raise :class:`WSGIConformanceError`,
warnings go to :mod:`warnings`), ``warn`` (everything goes to :mod:`warnings`) and ``report``
(findings are only collected). Every finding names its rule ID, its PEP 3333 section and what
happened. The engine lives in :mod:`wsgikit.conformance` (``findings``, ``environ_checks``,
``response_checks``, ``exchange``, ``streams``, ``iterable``, ``engine``, ``wsgiref_checks``);
the rules themselves in :mod:`wsgikit.conformance.pep3333`.
"""

from __future__ import annotations

import re

from wsgikit.conformance.engine import Validator, validator
from wsgikit.conformance.environ_checks import environ_problems
from wsgikit.conformance.findings import (
    MODES,
    Finding,
    Problem,
    Reporter,
    WSGIConformanceError,
    WSGIWarning,
)
from wsgikit.conformance.iterable import FileWrapperGuard, IteratorWrapper, PartialIteratorWrapper
from wsgikit.conformance.response_checks import (
    exc_info_problems,
    headers_problems,
    result_problems,
    status_problems,
)
from wsgikit.conformance.streams import ErrorWrapper, InputWrapper, WriteWrapper
from wsgikit.conformance.wsgiref_checks import (
    assert_,
    check_content_type,
    check_environ,
    check_errors,
    check_exc_info,
    check_headers,
    check_input,
    check_iterator,
    check_status,
    check_string_type,
)

__all__ = [
    "validator",
    "Validator",
    "WSGIWarning",
    "WSGIConformanceError",
    "Finding",
    "Problem",
    "Reporter",
    "MODES",
    "environ_problems",
    "status_problems",
    "headers_problems",
    "exc_info_problems",
    "result_problems",
    "check_environ",
    "check_input",
    "check_errors",
    "check_status",
    "check_headers",
    "check_content_type",
    "check_exc_info",
    "check_iterator",
    "check_string_type",
    "assert_",
    "InputWrapper",
    "ErrorWrapper",
    "WriteWrapper",
    "PartialIteratorWrapper",
    "IteratorWrapper",
    "FileWrapperGuard",
]

# wsgiref.validate's module-level regexes, kept for code that imports them (the checks use
# RFC 9110's token grammar from wsgikit.http11.grammar instead).
header_re = re.compile(r"^[a-zA-Z][a-zA-Z0-9\-_]*$")
bad_header_value_re = re.compile(r"[\000-\037]")
