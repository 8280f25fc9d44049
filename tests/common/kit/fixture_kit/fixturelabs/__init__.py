"""Fixture labs for the harness tests; mirrors labs/__init__.py."""

from common.kit.overlay import install_from_env as _install_overlay

_install_overlay()
