"""The ``prefkit`` command line (thin: parse, call the library, render)."""
