"""wsgiref drop-in compatibility tests (CPython's own test_wsgiref against wsgikit)."""
