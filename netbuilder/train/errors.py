"""The one exception training raises for problems the user can fix; every stage turns it into a plain message."""

from __future__ import annotations


class TrainError(Exception):
    """Training cannot start or go on; ``message`` says what is wrong and ``suggestion`` what to do."""

    def __init__(self, message: str, suggestion: str = ""):
        super().__init__(message)
        self.message = message
        self.suggestion = suggestion

    def __str__(self) -> str:
        return f"{self.message} {self.suggestion}".strip()
