"""The one exception training raises for problems the user can fix; every stage turns it into a plain message."""

from __future__ import annotations


class Explained:
    """An error the user can fix: ``message`` says what is wrong, ``suggestion`` what to do; ``str`` gives both.
    Mixed into each such exception class ahead of its built-in base."""

    message: str
    suggestion: str

    def __init__(self, message: str, suggestion: str = ""):
        super().__init__(message)
        self.message = message
        self.suggestion = suggestion

    def __str__(self) -> str:
        return f"{self.message} {self.suggestion}".strip()


class TrainError(Explained, Exception):
    """Training cannot start or go on; ``message`` says what is wrong and ``suggestion`` what to do."""
