"""One module per interchange format: ``parse`` (records -> Builder rows), ``write`` (Dataset -> file)."""
