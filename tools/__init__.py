"""Command-line helpers for CI: the stacks a change affects, the outputs for the backend."""
