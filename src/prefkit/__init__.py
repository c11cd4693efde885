"""prefkit: collect, aggregate, model, explain and use preference data."""

from prefkit.errors import (
    DataProblemError,
    FormatError,
    InputError,
    MissingDependencyError,
    PrefkitError,
    StoreError,
    ValidationError,
)

__version__ = "0.1.0"

__all__ = [
    "DataProblemError",
    "FormatError",
    "InputError",
    "MissingDependencyError",
    "PrefkitError",
    "StoreError",
    "ValidationError",
    "__version__",
]
