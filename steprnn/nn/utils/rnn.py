"""Packing utilities (placeholder)."""
