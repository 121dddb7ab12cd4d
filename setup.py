"""Build hook: setuptools needs `cffi_modules` here (it cannot be set from pyproject.toml).

The native engine is compiled by cffi in out-of-line API mode from native/build_engine.py.
"""

from setuptools import setup

setup(cffi_modules=["native/build_engine.py:ffibuilder"])
