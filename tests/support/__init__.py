"""Helpers the tests use and the product never does: real-binary harnesses, request builders."""
