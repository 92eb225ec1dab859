"""Symbolic and numeric checks of every claim of the paper (see README)."""
