"""Typed exceptions raised for user errors; every message is one line naming the field."""


class SnnsimError(Exception):
    """Base class of snnsim's user-facing errors."""


class ConfigError(SnnsimError, ValueError):
    """A parameter, config field, array or option is not allowed."""

    def __init__(self, field, message):
        self.field = field
        super().__init__(f"{field}: {message}")


class MemoryLimitError(SnnsimError, MemoryError):
    """A requested computation would need more memory than the configured limit."""


class DivergenceError(SnnsimError, FloatingPointError):
    """NaN or inf appeared in the state or the weights during a run."""
