"""Names as file names: a network, run or document name becomes exactly one safe path component.

Names come from documents, which come from anyone: ``../../../../escaped``, ``/etc/cron.d/x``, ``a/b``, ``CON``
or 500 characters. Every place that builds a file or folder name from such a name (run folders, weights files,
export and render outputs) goes through `safe_file_name`, so what is written stays inside the folder it was meant
for, on every operating system, and still reads like the name it came from.
"""

from __future__ import annotations

import re
import unicodedata

# Windows refuses these as file names, with or without an extension (CON.txt too), in any letter case.
_RESERVED = {"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$", *(f"COM{i}" for i in range(10)),
             *(f"LPT{i}" for i in range(10)), "COM¹", "COM²", "COM³", "LPT¹", "LPT²", "LPT³"}
# Path separators, characters Windows forbids in names, and every control character.
_UNSAFE = re.compile(r'[/\\<>:"|?*\x00-\x1f\x7f-\x9f]+')
_SPACES = re.compile(r"\s+")
_DASHES = re.compile(r"-{2,}")

MAX_NAME_BYTES = 100  # UTF-8 bytes: room for a prefix (run stamp) and suffix under every file system's 255


def safe_file_name(name: str, fallback: str = "network", max_bytes: int = MAX_NAME_BYTES) -> str:
    """``name`` as one readable file-name component that cannot leave its folder.

    Separators, characters Windows forbids and control characters become "-"; whitespace becomes one space;
    leading and trailing dots, dashes and spaces go (no ``..``, no hidden files, nothing Windows trims); Windows'
    reserved device names get a trailing "_"; the result is cut to ``max_bytes`` of UTF-8 at a character
    boundary. An empty result is ``fallback``. ``safe_file_name("a/b") == "a-b"``, ``"../x" -> "x"``.
    """
    text = unicodedata.normalize("NFC", str(name))
    text = _UNSAFE.sub("-", text)
    text = _SPACES.sub(" ", text)
    text = _DASHES.sub("-", text)
    text = text.strip(" .-")
    encoded = text.encode("utf-8")
    if len(encoded) > max_bytes:
        text = encoded[:max_bytes].decode("utf-8", errors="ignore").rstrip(" .-")
    if not text:
        return fallback
    head, dot, tail = text.partition(".")
    if head.rstrip(" ").upper() in _RESERVED:  # "CON" -> "CON_", "con.txt" -> "con_.txt"
        text = f"{head.rstrip(' ')}_{dot}{tail}"
    return text
