"""``wsgikit`` command line. The only module that prints and exits.

Each subcommand is one ``_add_<name>_parser`` function plus one ``_cmd_<name>`` function.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Optional

from wsgikit import __version__
from wsgikit.config import ConfigError, ServerConfig
from wsgikit.loader import AppImportError, import_app

EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _add_serve_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("serve", help="serve a WSGI application")
    p.add_argument("app", metavar="MODULE:APP", help="the WSGI application, e.g. myproject:app")
    p.add_argument("--host", default=None, help="interface to listen on (default 127.0.0.1)")
    p.add_argument("--port", default=None, help="TCP port (default 8000; 0 picks a free one)")
    p.add_argument("--threads", default=None, help="worker threads (default 8)")
    p.set_defaults(func=_cmd_serve)


def _cmd_serve(args: argparse.Namespace) -> int:
    overrides = {
        k: v for k, v in (("host", args.host), ("port", args.port), ("threads", args.threads))
        if v is not None
    }
    try:
        config = ServerConfig.from_env(**overrides)
        app = import_app(args.app)
    except (ConfigError, AppImportError) as exc:
        print(f"wsgikit: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    from wsgikit.server import serve

    try:
        serve(app, config=config)
    except OSError as exc:
        print(f"wsgikit: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        pass
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="wsgikit", description="A strict, threaded HTTP/1.1 WSGI server.")
    parser.add_argument("--version", action="version", version=f"wsgikit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    _add_serve_parser(sub)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    return int(args.func(args))
