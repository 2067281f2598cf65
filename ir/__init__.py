"""Shared IR infrastructure that knows no dialect: quantized types, resources, diagnostics."""
