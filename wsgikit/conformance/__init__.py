"""PEP 3333 conformance: the rule data (:mod:`.pep3333`), the checks, the pytest plugin and the
WebTest helpers. It judges apps and servers from the outside, so it never imports
:mod:`wsgikit.server` or :mod:`wsgikit.ops`. :mod:`wsgikit.validate` is its
``wsgiref.validate``-compatible face; ``wsgikit check`` (:mod:`wsgikit.ops.checker`) drives an
app through the server's environ builder and judges it with these checks.
"""
