"""Fixtures shared with the platform tests (the process-leak `home`)."""

from tests.platforms.conftest import home  # noqa: F401
