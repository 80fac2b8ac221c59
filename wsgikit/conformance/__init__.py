"""PEP 3333 conformance: the rule data (:mod:`.pep3333`), the validation engine, the pytest plugin
and the WebTest helpers. It judges apps and servers from the outside, so it never imports
:mod:`wsgikit.server` or :mod:`wsgikit.ops`, nor its own face :mod:`wsgikit.validate`.

The engine, one concern a module: :mod:`.findings` (problems, findings, the reporter and its
modes), :mod:`.environ_checks` and :mod:`.response_checks` (pure checks), :mod:`.exchange` (one
request's state), :mod:`.streams` (``wsgi.input``/``wsgi.errors``/``write()`` guards),
:mod:`.iterable` (the response iterable and ``wsgi.file_wrapper`` guards), :mod:`.engine` (the
``Validator`` middleware) and :mod:`.wsgiref_checks` (wsgiref's ``check_*`` helpers).
:mod:`wsgikit.validate` is the ``wsgiref.validate``-compatible face; ``wsgikit check``
(:mod:`wsgikit.ops.checker`) drives an app through the server's environ builder and judges it
with these checks.
"""
