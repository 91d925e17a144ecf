"""Root conftest: the shared fixtures live in tests/hermetic_testsupport/fixtures.py."""

pytest_plugins = ["hermetic_testsupport.fixtures"]
