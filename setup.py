"""Build hook. The whole package configuration is in setup.cfg; this file only adds the modules
that mypyc compiles when ``WSGIKIT_COMPILE=1`` (docs/compiled.rst):

    WSGIKIT_COMPILE=1 pip wheel --no-build-isolation --no-deps . -w dist/

needs mypy (the ``compile`` extra) and a C compiler, and gives a wheel for this platform and
Python version whose request path is compiled. Without the variable, the build is pure Python.
"""

from __future__ import annotations

import os
import sys

from setuptools import setup

ext_modules = []
if os.environ.get("WSGIKIT_COMPILE") == "1":
    from mypyc.build import mypycify

    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "tools"))
    from compile import COMPILED  # the one list of compiled modules

    ext_modules = mypycify(list(COMPILED), opt_level="3")

setup(ext_modules=ext_modules)
