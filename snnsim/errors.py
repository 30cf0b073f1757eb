"""Typed exceptions raised for user errors; every message is one line naming the field."""

#: characters str.splitlines() breaks on, escaped so that a message stays one line
_LINE_BREAKS = str.maketrans({c: repr(c)[1:-1] for c in "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"})


class SnnsimError(Exception):
    """Base class of snnsim's user-facing errors."""


class ConfigError(SnnsimError, ValueError):
    """A parameter, config field, array or option is not allowed."""

    def __init__(self, field, message):
        self.field = str(field).translate(_LINE_BREAKS)   # keys/paths may hold line breaks
        super().__init__(f"{self.field}: {str(message).translate(_LINE_BREAKS)}")


class MemoryLimitError(SnnsimError, MemoryError):
    """A requested computation would need more memory than the configured limit."""


class DivergenceError(SnnsimError, FloatingPointError):
    """NaN or inf appeared in the state or the weights during a run."""
