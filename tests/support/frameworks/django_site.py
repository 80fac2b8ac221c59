"""A Django app as ``django-admin startproject`` makes it (DEBUG on, ALLOWED_HOSTS empty, so
``localhost``/``127.0.0.1`` are accepted), without a database, plus ConditionalGetMiddleware."""

from __future__ import annotations

from typing import Any

from tests.support.frameworks import HERE, PAGE, STATIC_FILE, echo_text

urlpatterns: list[Any] = []


def _views() -> list[Any]:
    from django.http import HttpResponse, HttpResponseRedirect, JsonResponse, StreamingHttpResponse
    from django.urls import path, re_path
    from django.views.decorators.csrf import csrf_exempt
    from django.views.static import serve

    def index(request: Any) -> Any:
        return HttpResponse(PAGE.format(name="Django"))

    def as_json(request: Any) -> Any:
        return JsonResponse({"framework": "django", "ok": True})

    @csrf_exempt
    def echo(request: Any) -> Any:
        raw = request.body
        return HttpResponse(echo_text(request.POST.get("text"), raw), content_type="text/plain")

    def redirect(request: Any) -> Any:
        return HttpResponseRedirect("/")

    def static(request: Any) -> Any:
        return serve(request, STATIC_FILE.name, document_root=str(HERE))

    def stream(request: Any) -> Any:
        chunks = (b"chunk %d\n" % i for i in range(3))
        return StreamingHttpResponse(chunks, content_type="text/plain")

    def error(request: Any) -> Any:
        raise RuntimeError("deliberate error in the Django test app")

    return [
        path("", index),
        path("json", as_json),
        path("echo", echo),
        path("redirect", redirect),
        re_path(r"^file$", static),
        path("stream", stream),
        path("error", error),
    ]


def make_app() -> Any:
    """Configure Django once per process and return its WSGI handler."""
    from django.conf import settings

    if not settings.configured:
        settings.configure(
            DEBUG=True,
            ALLOWED_HOSTS=[],
            SECRET_KEY="test-only-django-secret-key-not-for-production",
            ROOT_URLCONF=__name__,
            INSTALLED_APPS=[],
            DATABASES={},
            MIDDLEWARE=[
                "django.middleware.security.SecurityMiddleware",
                "django.middleware.common.CommonMiddleware",
                "django.middleware.csrf.CsrfViewMiddleware",
                "django.middleware.clickjacking.XFrameOptionsMiddleware",
                "django.middleware.http.ConditionalGetMiddleware",
            ],
            USE_TZ=True,
            LOGGING_CONFIG=None,
        )
    from django.core.wsgi import get_wsgi_application

    application = get_wsgi_application()
    if not urlpatterns:
        urlpatterns.extend(_views())
    return application
