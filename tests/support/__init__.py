"""Helpers shared by the test layers (moto server, Pulumi mocks, program runner)."""
