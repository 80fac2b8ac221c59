"""DispatchMiddleware: prefixes and hosts, SCRIPT_NAME/PATH_INFO moves, 404."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable
from typing import Any

# wsgikit's validator reports A411 (fewer bytes than Content-Length) for a HEAD response with
# an empty body, which RFC 9110 section 9.3.2 and werkzeug allow (reported to its owner). The
# HEAD checks below therefore run under wsgiref's validator.
from wsgiref.validate import validator as wsgiref_validator  # noqa: E402

import pytest
import webtest

from middleware.dispatch import DispatchMiddleware
from wsgikit.validate import validator


def echo(name: str) -> Any:
    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        body = json.dumps({"app": name, "script": environ["SCRIPT_NAME"],
                           "path": environ["PATH_INFO"]}).encode()
        start_response("200 OK", [("Content-Type", "application/json"),
                                  ("Content-Length", str(len(body)))])
        return [body]
    return app


def client(**options: Any) -> webtest.TestApp:
    return webtest.TestApp(validator(DispatchMiddleware(**options)))


MOUNTS = {"/api": echo("api"), "/api/v2": echo("v2"), "/café": echo("cafe")}


@pytest.mark.parametrize(
    ("path", "app", "script", "path_info"),
    [("/api", "api", "/api", ""), ("/api/", "api", "/api", "/"),
     ("/api/users/7", "api", "/api", "/users/7"), ("/api/v2/x", "v2", "/api/v2", "/x"),
     ("/api/v2", "v2", "/api/v2", ""), ("/api/v20", "api", "/api", "/v20"),
     ("/caf%C3%A9/menu", "cafe", "/caf\xc3\xa9", "/menu"),
     ("/apix", "root", "", "/apix"), ("/", "root", "", "/")],
)
def test_prefixes(path: str, app: str, script: str, path_info: str) -> None:
    data = client(app=echo("root"), mounts=MOUNTS).get(path).json
    assert data == {"app": app, "script": script, "path": path_info}


def test_existing_script_name_is_extended() -> None:
    res = client(app=None, mounts=MOUNTS).get("/api/x", extra_environ={"SCRIPT_NAME": "/outer"})
    assert res.json == {"app": "api", "script": "/outer/api", "path": "/x"}


def test_404_when_nothing_matches() -> None:
    res = client(mounts=MOUNTS).get("/nothing", status=404)
    assert b"no application is mounted" in res.body
    head = webtest.TestApp(wsgiref_validator(DispatchMiddleware(mounts=MOUNTS)))
    assert head.head("/nothing", status=404).body == b""


def test_hosts_before_paths() -> None:
    app = client(app=echo("root"), mounts=MOUNTS, hosts={"API.example.com": echo("host")})
    assert app.get("/api/x", headers={"Host": "api.example.com:8080"}).json["app"] == "host"
    assert app.get("/api/x", headers={"Host": "API.EXAMPLE.COM."}).json["app"] == "host"
    assert app.get("/api/x", headers={"Host": "other.example.com"}).json["app"] == "api"


def test_nested_dispatchers() -> None:
    inner = DispatchMiddleware(mounts={"/b": echo("b")})
    res = client(mounts={"/a": inner}).get("/a/b/c")
    assert res.json == {"app": "b", "script": "/a/b", "path": "/c"}


@pytest.mark.parametrize(
    ("options", "error"),
    [({"mounts": {"api": echo("x")}}, ValueError), ({"mounts": {"/": echo("x")}}, ValueError),
     ({"mounts": {"/api/": echo("x")}}, ValueError), ({"mounts": {"/a?b": echo("x")}}, ValueError),
     ({"mounts": {"/api": "not callable"}}, TypeError),
     ({"hosts": {"example.com:80": echo("x")}}, ValueError),
     ({"hosts": {"example.com": 3}}, TypeError), ({"app": "nope"}, TypeError)],
)
def test_bad_options(options: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        DispatchMiddleware(**options)


def test_sample_index_and_static_site_through_dispatch() -> None:
    from sample_apps import app as samples

    client = webtest.TestApp(validator(samples))
    assert b"static_site" in client.get("/").body
    page = client.get("/static_site/")
    assert b"A static site on wsgikit middleware" in page.body
    assert page.headers["ETag"]
    css = client.get("/static_site/css/site.css", headers={"Accept-Encoding": "gzip"})
    assert css.headers["ETag"].endswith('-gzip"') and b"font-family" in css.body  # the .gz file
    api = client.get("/static_site/api/time")
    assert api.json["mounted_at"] == "/static_site/api"
    raw = webtest.TestRequest.blank("/static_site/api/time", headers={"Accept-Encoding": "gzip"})
    response = raw.get_response(validator(samples))
    assert response.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(response.body).startswith(b'{"time"')
    script = client.get("/static_site/js/app.5d41402abc4b2a76.js")
    assert "immutable" in script.headers["Cache-Control"]
    client.get("/static_site/missing.txt", status=404)
    client.get("/no-such-sample/", status=404)
