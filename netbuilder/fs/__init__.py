"""File-system safety shared by every stage that touches the user's disk.

Three small jobs, one module each, with no heavy imports (the CLI's quick commands use them too):

* `limits`: read a file only when it is a regular file of a sensible size (devices, FIFOs and sockets are
  refused, gzip is inflated with a cap), so a hostile or mistaken path can neither hang nor exhaust memory.
* `names`: turn a network, run or document name into one safe file-name component.
* `paths`: resolve a path a document names against the document's own folder.
"""

from netbuilder.fs.limits import LIMITS, FileRefused, check_readable, gunzip_limited, read_limited
from netbuilder.fs.names import safe_file_name
from netbuilder.fs.paths import document_folder, resolve_document_path

__all__ = ["LIMITS", "FileRefused", "check_readable", "document_folder", "gunzip_limited", "read_limited",
           "resolve_document_path", "safe_file_name"]
