"""Stores: the SQLite project store (embedded default) and DuckDB scans of large logs."""
