"""Integrations with the outside world: transformers, the generate helper, hypothesis, the CLI."""
