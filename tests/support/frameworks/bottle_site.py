"""A Bottle app: routes on a Bottle() instance, static_file, a generator body."""

from __future__ import annotations

from typing import Any

from tests.support.frameworks import HERE, PAGE, STATIC_FILE, echo_text


def make_app() -> Any:
    import bottle

    app = bottle.Bottle()

    @app.get("/")
    def index() -> Any:
        return PAGE.format(name="Bottle")

    @app.get("/json")
    def as_json() -> Any:
        return {"framework": "bottle", "ok": True}

    @app.post("/echo")
    def echo() -> Any:
        raw = bottle.request.body.read()
        bottle.response.content_type = "text/plain"
        return echo_text(bottle.request.forms.get("text"), raw)

    @app.get("/redirect")
    def go_home() -> Any:
        bottle.redirect("/")

    @app.route("/file", method=["GET", "HEAD"])
    def static() -> Any:
        return bottle.static_file(STATIC_FILE.name, root=str(HERE), mimetype="text/plain")

    @app.get("/stream")
    def stream() -> Any:
        bottle.response.content_type = "text/plain"
        return (b"chunk %d\n" % i for i in range(3))

    @app.get("/error")
    def error() -> Any:
        raise RuntimeError("deliberate error in the Bottle test app")

    return app
