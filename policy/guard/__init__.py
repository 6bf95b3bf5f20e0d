"""The e2b-sandbox stack's guardrails as a CrossGuard policy pack.

Standalone on purpose: nothing here imports the program (`program/`, `components/`), so a change
that weakens the program's own rules cannot weaken the guard that checks them. Under the Pulumi
CLI the pack's directory (`policy/`) is the import root, so modules here import each other
relatively; tests import them as `policy.guard.*` without the CLI.
"""
