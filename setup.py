"""Build hook. The package configuration is in setup.cfg; this file adds the compiled request path.

``pip install .`` compiles the modules that tools/compile.py lists with mypyc when it can (a C
compiler and the Python headers are present) and otherwise installs the pure-Python build, saying
so in one line, as aiohttp, msgpack and PyYAML do with their optional extensions.
``WSGIKIT_COMPILE=1`` makes a failed compilation an error; ``WSGIKIT_COMPILE=0`` never compiles.
Editable installs (``pip install -e``) stay pure Python unless ``WSGIKIT_COMPILE=1``: a compiled
module next to its ``.py`` file would be imported instead of it, so an edit would do nothing.
docs/compiled.rst is the install guide.
"""

from __future__ import annotations

import os
import shutil
import sys
import sysconfig

from setuptools import setup
from setuptools.command.build_ext import build_ext
from setuptools.command.build_py import build_py

MODE = os.environ.get("WSGIKIT_COMPILE", "auto").strip().lower() or "auto"
if MODE not in ("auto", "0", "1"):
    sys.exit(f"WSGIKIT_COMPILE must be 0, 1 or unset, not {MODE!r}")

#: The setup.py commands that build the package (PEP 517's build_wheel runs bdist_wheel);
#: metadata, sdist and editable builds must not spend time generating C.
BUILD_COMMANDS = {"bdist_wheel", "build", "build_ext", "install", "editable_wheel"}


def say(message: str) -> None:
    """The one line a user sees about which build they get (pip shows it with -v or on error)."""
    print(f"wsgikit: {message}", file=sys.stderr, flush=True)


def missing_toolchain() -> str:
    """Why a C extension cannot be built here, or "" when a compiler and Python.h are present."""
    compiler = (os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc").split()[0]
    if shutil.which(compiler) is None:
        return f"no C compiler ({compiler!r} not found)"
    include = sysconfig.get_paths()["include"]
    if not os.path.exists(os.path.join(include, "Python.h")):
        return f"no Python headers ({include}/Python.h missing; Debian: python3-dev)"
    return ""


def compiled_extensions() -> list:
    """mypyc's extensions for the request path, or [] (with the reason said) for pure Python."""
    commands = set(sys.argv[1:])
    if MODE == "0" or not commands & BUILD_COMMANDS:
        return []
    if "editable_wheel" in commands and MODE == "auto":
        say("editable install: pure-Python build (WSGIKIT_COMPILE=1 compiles it)")
        return []
    reason = missing_toolchain()
    if not reason:
        try:
            from mypyc.build import mypycify
        except ImportError:
            reason = "mypyc (part of mypy) is not installed in the build environment"
    if reason:
        if MODE == "1":
            sys.exit(f"wsgikit: WSGIKIT_COMPILE=1 but {reason}")
        say(f"installing the pure-Python build: {reason}")
        return []
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "tools"))
    from compile import COMPILED  # the one list of compiled modules

    try:
        return list(mypycify(list(COMPILED), opt_level="3"))
    except (Exception, SystemExit) as exc:  # mypy's own errors exit; never leave half a build
        if MODE == "1":
            raise
        say(f"installing the pure-Python build: mypyc failed ({exc})")
        return []


class OptionalBuildExt(build_ext):
    """Compile the extensions, or, unless WSGIKIT_COMPILE=1, drop them all and stay pure Python.

    All or nothing: the compiled modules share one library, so a build that fails half-way
    removes every extension it made rather than install a package that cannot import.
    """

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:  # CompileError, LinkError, DistutilsExecError, OSError...
            if MODE == "1":
                raise
            for output in self.get_outputs():
                if os.path.exists(output):
                    os.remove(output)
            self.extensions = []
            self.distribution.ext_modules = []
            say(f"installing the pure-Python build: compiling failed ({exc})")


class FreshBuildPy(build_py):
    """Copy the packages into an empty build directory.

    pip builds a source checkout in place, and setuptools keeps what an earlier build left in
    build/lib: a module that moved or was deleted since would be packed into the wheel again.
    """

    def run(self) -> None:
        for package in ("wsgikit", "middleware"):
            stale = os.path.join(self.build_lib, package)
            if os.path.isdir(stale):
                shutil.rmtree(stale)
        super().run()


ext_modules = compiled_extensions()
if ext_modules:
    say("compiling the request path with mypyc (WSGIKIT_COMPILE=0 skips it)")
setup(ext_modules=ext_modules, cmdclass={"build_ext": OptionalBuildExt, "build_py": FreshBuildPy})
