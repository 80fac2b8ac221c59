"""A Flask app with the usual pieces: templates-free views, jsonify, send_file, a stream."""

from __future__ import annotations

from typing import Any

from tests.support.frameworks import PAGE, STATIC_FILE, echo_text


def make_app() -> Any:
    from flask import Flask, Response, jsonify, redirect, request, send_file

    app = Flask("wsgikit_flask_site")

    @app.get("/")
    def index() -> Any:
        return PAGE.format(name="Flask")

    @app.get("/json")
    def as_json() -> Any:
        return jsonify(framework="flask", ok=True)

    @app.post("/echo")
    def echo() -> Any:
        raw = request.get_data(cache=True)
        return Response(echo_text(request.form.get("text"), raw), mimetype="text/plain")

    @app.get("/redirect")
    def go_home() -> Any:
        return redirect("/")

    @app.get("/file")
    def static_file() -> Any:
        return send_file(STATIC_FILE, mimetype="text/plain")

    @app.get("/stream")
    def stream() -> Any:
        return Response((b"chunk %d\n" % i for i in range(3)), mimetype="text/plain")

    @app.get("/error")
    def error() -> Any:
        raise RuntimeError("deliberate error in the Flask test app")

    return app
