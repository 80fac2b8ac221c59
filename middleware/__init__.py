"""wsgikit's middleware: small classes that wrap any WSGI application.

Import each from its module (``from middleware.cookies import CookieMiddleware``).
Note: ``middleware`` is a generic top-level name; another installed distribution with a
package of that name would clash with it.
"""
