"""A Pyramid app: Configurator routes and views, FileResponse, app_iter streaming; no
exception view, so /error propagates to the server as Pyramid does by default."""

from __future__ import annotations

from typing import Any

from tests.support.frameworks import PAGE, STATIC_FILE, echo_text


def make_app() -> Any:
    from pyramid.config import Configurator
    from pyramid.httpexceptions import HTTPFound
    from pyramid.response import FileResponse, Response

    def index(request: Any) -> Any:
        return Response(PAGE.format(name="Pyramid"))

    def as_json(request: Any) -> Any:
        return {"framework": "pyramid", "ok": True}

    def echo(request: Any) -> Any:
        raw = request.body
        return Response(echo_text(request.POST.get("text"), raw), content_type="text/plain")

    def go_home(request: Any) -> Any:
        return HTTPFound(location="/")

    def static(request: Any) -> Any:
        response = FileResponse(str(STATIC_FILE), request=request, content_type="text/plain")
        response.conditional_response = True
        stat = STATIC_FILE.stat()
        response.etag = f"{stat.st_size}-{int(stat.st_mtime)}"
        return response

    def stream(request: Any) -> Any:
        return Response(app_iter=(b"chunk %d\n" % i for i in range(3)), content_type="text/plain")

    def error(request: Any) -> Any:
        raise RuntimeError("deliberate error in the Pyramid test app")

    with Configurator() as config:
        for name, path, view, extra in (
            ("index", "/", index, {}),
            ("json", "/json", as_json, {"renderer": "json"}),
            ("echo", "/echo", echo, {"request_method": "POST"}),
            ("redirect", "/redirect", go_home, {}),
            ("file", "/file", static, {}),
            ("stream", "/stream", stream, {}),
            ("error", "/error", error, {}),
        ):
            config.add_route(name, path)
            config.add_view(view, route_name=name, **extra)
        return config.make_wsgi_app()
