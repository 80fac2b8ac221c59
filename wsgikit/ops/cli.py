"""``wsgikit`` command line. The only module that prints and exits.

Each subcommand is one ``_add_<name>_parser`` function plus one ``_cmd_<name>`` function.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys
from collections.abc import Sequence
from typing import Any, Optional

from wsgikit import __version__, build_info
from wsgikit.config import (
    ENV_PREFIX,
    RELOADER_CHILD_ENV,
    ConfigError,
    ServerConfig,
    settings_table,
)
from wsgikit.ops.loader import AppImportError, import_app

EXIT_USAGE = 2
_MAIN_PID = os.getpid()


def _help_width() -> int:
    """The width ``shutil.get_terminal_size()`` would give help text, without importing shutil
    (argparse does, with the compression modules it loads, in every server process)."""
    try:
        return int(os.environ["COLUMNS"]) - 2
    except (KeyError, ValueError):
        pass
    try:
        return os.get_terminal_size(sys.__stdout__.fileno()).columns - 2  # type: ignore[union-attr]
    except (AttributeError, ValueError, OSError):
        return 78


class _Formatter(argparse.HelpFormatter):
    def __init__(self, prog: str, indent_increment: int = 2, max_help_position: int = 24,
                 width: Optional[int] = None) -> None:
        super().__init__(prog, indent_increment, max_help_position,
                         _help_width() if width is None else width)


class _RawFormatter(_Formatter, argparse.RawDescriptionHelpFormatter):
    pass


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _flag_of(f: dataclasses.Field) -> str:  # type: ignore[type-arg]
    return str(f.metadata["flag"] or "--" + f.name.replace("_", "-"))


def _add_serve_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """``serve``'s flags come from ``ServerConfig``'s field metadata: one source for all."""
    p = sub.add_parser(
        "serve",
        help="serve a WSGI application",
        description="Serve a WSGI application. Every setting can also come from a WSGIKIT_* "
        "environment variable (the flag wins).",
        epilog="examples:\n"
        "  wsgikit serve myproject:app --bind 0.0.0.0:8000 --threads 16\n"
        "  wsgikit serve 'myproject:create_app()' --workers 4 --access-log -\n"
        "  wsgikit serve myproject:app --bind unix:/run/myapp.sock --trusted-proxy 127.0.0.1\n"
        "  wsgikit serve myproject:app --reload          # development only",
        formatter_class=_RawFormatter,
    )
    p.add_argument(
        "app",
        metavar="MODULE:APP",
        nargs="?",
        default=None,
        help="the WSGI application, e.g. myproject:app or 'myproject:create_app()' "
        f"(env {ENV_PREFIX}APP)",
    )
    table = {row[0]: row for row in settings_table()}
    for f in dataclasses.fields(ServerConfig):
        flag = _flag_of(f)
        _, env, default, text = table[flag]
        help_text = f"{text} (env {env}; default {default})".replace("%", "%%")
        if isinstance(f.default, bool):
            p.add_argument(
                flag, dest=f.name, default=None, action=argparse.BooleanOptionalAction,
                help=help_text,
            )
        elif isinstance(f.default, tuple):
            p.add_argument(
                flag, dest=f.name, default=None, action="append", metavar="VALUE",
                help=help_text + " [repeatable]",
            )
        else:
            p.add_argument(flag, dest=f.name, default=None, metavar="VALUE", help=help_text)
    p.add_argument(
        "--check-config",
        action="store_true",
        help="load the app, check every setting and the TLS files, then exit (0 when all good)",
    )
    p.add_argument(
        "--print-config",
        action="store_true",
        help="print the settings in effect (flags over env over defaults) and exit",
    )
    p.set_defaults(func=_cmd_serve)


def _fail(message: str) -> int:
    print(f"wsgikit: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def _serve_config(args: argparse.Namespace) -> ServerConfig:
    overrides: dict[str, Any] = {}
    for name in ServerConfig.field_names():
        value = getattr(args, name, None)
        if value is None:
            continue
        if isinstance(value, list) and name != "binds":
            value = [part for item in value for part in item.split(",") if part.strip()]
        overrides[name] = value
    return ServerConfig.from_env(**overrides)


def _format_setting(value: object) -> str:
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value)
    if value is None:
        return ""
    return str(value)


def _setup_logging(config: ServerConfig) -> None:
    logging.basicConfig(
        level=config.log_level.upper(),
        format="[%(asctime)s] [%(process)d] [%(levelname)s] %(name)s: %(message)s",
        stream=sys.stderr,
    )


_DEFAULT_ACCESS_LOG_FORMAT = ServerConfig.__dataclass_fields__["access_log_format"].default


def _cmd_serve(args: argparse.Namespace) -> int:

    from wsgikit.ops import run as ops
    from wsgikit.ops.stack import build_app
    from wsgikit.ops.status import ServerState
    from wsgikit.server.listener import close_listeners

    try:
        config = _serve_config(args)
    except ConfigError as exc:
        return _fail(str(exc))
    if args.print_config:
        for name in ServerConfig.field_names():
            if name == "keyfile_password" and config.keyfile_password:
                print(f"{name} = (set)")
                continue
            print(f"{name} = {_format_setting(getattr(config, name))}")
        return 0
    spec = args.app or os.environ.get(ENV_PREFIX + "APP")
    if not spec:
        return _fail("no application given: wsgikit serve MODULE:APP (or set WSGIKIT_APP)")
    if config.workers > 1 and not hasattr(os, "fork"):
        return _fail("--workers above 1 needs fork(), which this platform lacks")
    _setup_logging(config)
    log = logging.getLogger("wsgikit")
    if config.reload and not args.check_config and os.environ.get(RELOADER_CHILD_ENV) != "1":
        return _run_reloader(args, config)
    modules_before = set(sys.modules)
    try:
        app = import_app(spec, factory=config.factory)
        ssl_context = None
        if config.certfile:  # ssl (libssl, libcrypto) is loaded only for TLS
            from wsgikit.server.tls import make_ssl_context

            ssl_context = make_ssl_context(config)
        build_app(app, config, ServerState())  # surfaces bad wrapper settings now
        if config.access_log or config.access_log_format != _DEFAULT_ACCESS_LOG_FORMAT:
            from wsgikit.server.accesslog import check_settings  # json, datetime: only if used

            check_settings(config)
    except (ConfigError, AppImportError) as exc:  # TLSConfigError is a ConfigError
        return _fail(str(exc))
    except (ImportError, RuntimeError, ValueError, TypeError, OSError) as exc:
        return _fail(f"cannot set up the server: {exc}")
    if args.check_config:
        print(f"wsgikit: configuration OK ({spec}, {len(config.bind_specs())} listener(s))")
        return 0
    try:
        listeners = ops.open_listeners(config)
    except OSError as exc:
        return _fail(str(exc))
    try:

        def announce() -> None:  # called once signal handlers are in place
            log.info("wsgikit %s, %s", __version__, build_info.describe())
            for listener in listeners:
                log.info("Listening on %s", listener.url(tls=ssl_context is not None))

        if config.workers > 1:
            from wsgikit.ops.arbiter import Arbiter, purge_app_modules

            def reload_app() -> Any:
                purge_app_modules(modules_before)
                import importlib

                importlib.invalidate_caches()
                return import_app(spec, factory=config.factory)

            log.info("starting %d worker processes", config.workers)
            arbiter = Arbiter(app, config, listeners, ssl_context, reload_app=reload_app)
            return arbiter.run(on_start=announce)
        return ops.run_server(app, config, listeners, ssl_context, ready=announce)
    except KeyboardInterrupt:
        return 0
    finally:
        close_listeners(listeners, unlink=os.getpid() == _MAIN_PID)


def _run_reloader(args: argparse.Namespace, config: ServerConfig) -> int:
    from wsgikit.ops import run as ops
    from wsgikit.ops.reloader import BANNER, Reloader
    from wsgikit.server.listener import close_listeners

    log = logging.getLogger("wsgikit")
    try:
        listeners = ops.open_listeners(config)
    except OSError as exc:
        return _fail(str(exc))
    try:

        def announce() -> None:
            print(f"wsgikit: {BANNER}", file=sys.stderr)
            for listener in listeners:
                log.info("Listening on %s", listener.url(tls=bool(config.certfile)))

        return Reloader(args.argv, config, listeners).run(on_start=announce)
    finally:
        close_listeners(listeners)


#: wsgikit.ops.checker.DEFAULT_HOST, named here so that building the parser for ``serve`` does not
#: import the checker (tests/unit/test_checker.py holds the two equal).
CHECK_DEFAULT_HOST = "localhost"


def _add_check_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "check",
        help="drive an app with a battery of requests through the PEP 3333 validator",
        description="Run GET, HEAD, OPTIONS, POSTs of several sizes, a chunked body and odd "
        "paths through MODULE:APP under wsgikit's validator and report each probe's status and "
        "the findings grouped by rule. What the app prints or logs is captured into the report. "
        "Exit status: 0 clean, 1 problems found, 2 usage error, 3 every probe was answered "
        "3xx/4xx/5xx (only error pages or redirects were reached, e.g. the host is not "
        "allowed).",
    )
    p.add_argument("app", metavar="MODULE:APP", help="the WSGI application to check")
    p.add_argument("--factory", action="store_true", help="APP is a factory: call it first")
    p.add_argument("--strict", action="store_true", help="count info-level findings too")
    p.add_argument(
        "--host",
        default=CHECK_DEFAULT_HOST,
        metavar="NAME[:PORT]",
        help=f"the Host header the probes send (default: {CHECK_DEFAULT_HOST}, which frameworks "
        "accept in development); it must be one the app allows",
    )
    p.add_argument(
        "--scheme",
        choices=("http", "https"),
        default="http",
        help="the wsgi.url_scheme of the probes (https also sets HTTPS=on and port 443), for "
        "an app that redirects plain http",
    )
    p.add_argument(
        "--format",
        choices=("text", "json", "html"),
        default="text",
        help="how to print the report on stdout (default: text)",
    )
    p.add_argument(
        "--html", metavar="FILE", help="also write the report as a self-contained HTML page"
    )
    p.set_defaults(func=_cmd_check)


def _cmd_check(args: argparse.Namespace) -> int:
    from wsgikit.ops.checker import run_check
    from wsgikit.ops.checkreport import format_html, format_json

    try:
        app = import_app(args.app, factory=args.factory)
    except AppImportError as exc:
        return _fail(str(exc))
    try:
        report = run_check(app, host=args.host, scheme=args.scheme)
    except ValueError as exc:
        return _fail(f"--host: {exc}")
    if args.format == "json":
        print(format_json(report, strict=args.strict))
    elif args.format == "html":
        print(format_html(report, strict=args.strict))
    else:
        print(report.format(include_info=True))
    if args.html:
        try:
            with open(args.html, "w", encoding="utf-8") as f:
                f.write(format_html(report, strict=args.strict))
        except OSError as exc:
            return _fail(f"--html: cannot write {args.html}: {exc.strerror}")
    if report.error_pages_only:
        print(report.error_pages_reason(), file=sys.stderr)
    return report.exit_status(strict=args.strict)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="wsgikit", description="A strict, threaded HTTP/1.1 WSGI server.")
    parser.add_argument("--version", action="version",
                        version=f"wsgikit {__version__}, {build_info.describe()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    _add_serve_parser(sub)
    _add_check_parser(sub)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    return int(args.func(args))
