"""Conformance tools against servers and frameworks nobody here wrote (issue 14)."""
