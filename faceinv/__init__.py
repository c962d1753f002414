"""Shared parts of the inverse-mapping scripts: generators, files, command-line glue."""
