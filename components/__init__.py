"""Pulumi components of the E2B sandbox stack, one concern each, plus the pure logic they wire."""
