"""Start the desktop app: ``run_app(argv)`` (the ``netbuilder`` command with no sub-command calls it).

It sets up High-DPI rendering and the application identity (QSettings and the recovery folder derive from it),
installs an exception hook so an unexpected error becomes a short message box instead of a dead window, offers
work left by a crashed session, and opens the file named on the command line or else the MLP example.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QCoreApplication, QEvent, QObject, Qt, QTimer
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication, QMessageBox, QWidget

from netbuilder import __version__

if TYPE_CHECKING:
    from netbuilder_ui.main_window import MainWindow

APP_NAME = "NetBuilder"
ORG_NAME = "NetBuilder"
ORG_DOMAIN = "netbuilder.app"
FIRST_RUN_TEMPLATE = "mlp"


class ErrorHook:
    """``sys.excepthook`` replacement: show a short message with the traceback under "Show Details…" and keep
    the app running. Qt slots that raise end up here instead of killing the event loop."""

    def __init__(self, parent: QWidget | None = None):
        self.parent = parent
        self._showing = False
        self.previous = sys.excepthook

    def __call__(self, kind: type[BaseException], error: BaseException, tb: TracebackType | None) -> None:
        if issubclass(kind, KeyboardInterrupt):
            QApplication.quit()
            return
        details = "".join(traceback.format_exception(kind, error, tb))
        sys.stderr.write(details)
        if self._showing:  # an error while showing an error: the console has it, do not stack dialogs
            return
        self._showing = True
        try:
            message = str(error).strip().splitlines()[0] if str(error).strip() else kind.__name__
            box = QMessageBox(self.parent if self.parent is not None and self.parent.isVisible() else None)
            box.setIcon(QMessageBox.Icon.Warning)
            box.setWindowTitle(f"{APP_NAME}: unexpected error")
            box.setText(f"Something went wrong: {message}")
            box.setInformativeText("Your document is still open and nothing was saved over. If this keeps "
                                   "happening, save your work under a new name and restart NetBuilder.")
            box.setDetailedText(details)
            box.exec()
        finally:
            self._showing = False


FIRST_PAINT_ENV = "NETBUILDER_FIRST_PAINT_REPORT"


class FirstPaintProbe(QObject):
    """For the start-up benchmark: when the window paints for the first time, write the wall-clock time (and
    which heavy modules were loaded by then) as JSON to ``report``, grab the window to ``<report>.png`` when
    ``grab`` is set, and quit when ``quit_after`` is set. Enabled by the ``NETBUILDER_FIRST_PAINT_REPORT``
    environment variable (a file path); ``NETBUILDER_FIRST_PAINT_GRAB=1`` and ``NETBUILDER_FIRST_PAINT_QUIT=1``
    add the rest."""

    def __init__(self, window: QWidget, report: str, grab: bool = False, quit_after: bool = True):
        super().__init__(window)
        self.window, self.report, self.grab, self.quit_after = window, report, grab, quit_after
        self.painted_at: float | None = None
        self.cpu_at_paint: float | None = None
        self.heavy: list[str] = []
        window.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt override)
        if watched is self.window and event.type() == QEvent.Type.Paint and self.painted_at is None:
            self.painted_at = time.time()
            self.cpu_at_paint = time.process_time()
            QTimer.singleShot(0, self, self._after_paint)
        return False

    def _after_paint(self) -> None:
        self.window.removeEventFilter(self)
        from netbuilder.lazy_modules import is_loaded

        self.heavy = sorted(m for m in ("torch", "pyqtgraph", "onnx", "onnxruntime", "networkx") if is_loaded(m))
        # Queued after the window's own after-paint calls (the document opening): `_finish` sees it open.
        QTimer.singleShot(0, self, self._finish)

    def _finish(self) -> None:
        record = {"painted": self.painted_at, "cpu": self.cpu_at_paint, "heavy_modules_at_paint": self.heavy,
                  "document_open": time.time(), "networks": list(getattr(self.window, "views", {}))}
        if self.grab:
            self.window.grab().save(self.report + ".png")
        with open(self.report, "w", encoding="utf-8") as out:
            json.dump(record, out)
        if self.quit_after:
            self.window.close()


def _configure_high_dpi() -> None:
    """Fractional scale factors are passed through, so 150% displays are sharp instead of rounded to 200%."""
    if QCoreApplication.instance() is None:
        QGuiApplication.setHighDpiScaleFactorRoundingPolicy(Qt.HighDpiScaleFactorRoundingPolicy.PassThrough)


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="netbuilder", description="NetBuilder desktop editor.")
    parser.add_argument("files", nargs="*", metavar="FILE",
                        help="a .nbg file to open (default: the MLP example)")
    return parser.parse_args(argv)


def create_app(argv: list[str]) -> tuple[QApplication, list[str]]:
    """The QApplication, created once with NetBuilder's identity and look, and the arguments left once Qt took
    its own (``-platform offscreen``, ``-style ...``)."""
    _configure_high_dpi()
    app = QApplication.instance()
    if app is None:
        app = QApplication(["netbuilder", *argv])
        argv = app.arguments()[1:]
    assert isinstance(app, QApplication)
    app.setApplicationName(APP_NAME)
    app.setOrganizationName(ORG_NAME)
    app.setOrganizationDomain(ORG_DOMAIN)
    app.setApplicationVersion(__version__)
    app.setStyle("Fusion")  # the same look on every platform; the window's style sheet refines it
    return app, list(argv)


def launch(argv: list[str], open_after_paint: bool = False, **window_options: Any) -> MainWindow:
    """Everything `run_app` does except running the event loop: returns the shown main window.
    ``window_options`` go to `MainWindow` (tests pass their own settings and recovery folder).

    ``open_after_paint`` (the app) shows the window first and opens the document (recovered work, the file named
    on the command line or the example) right after its first paint: the graph library loads then, not before
    the user sees a window (see netbuilder.lazy_modules). Otherwise the document is open when this returns."""
    app, argv = create_app(argv)
    args = _parse(argv)
    from netbuilder_ui.icons import app_icon
    from netbuilder_ui.main_window import MainWindow

    app.setWindowIcon(app_icon())
    window_options.setdefault("defer_training", True)  # the editor first; PyTorch loads once it is painted
    if open_after_paint and "qt_doc" not in window_options:
        from netbuilder.document import Document
        from netbuilder_ui.qt_document import QtDocument

        window_options["qt_doc"] = QtDocument(Document(network_names=()))  # no graph yet: nothing to load
    window = MainWindow(**window_options)
    from netbuilder_ui.gc_guard import MainThreadCollector

    # Training and exports run Python on worker threads: garbage (Qt wrappers included) is freed on this thread only.
    window.garbage_collector = MainThreadCollector(window)  # type: ignore[attr-defined]
    report = os.environ.get(FIRST_PAINT_ENV)
    if report:
        window.first_paint_probe = FirstPaintProbe(  # type: ignore[attr-defined]
            window, report, grab=os.environ.get("NETBUILDER_FIRST_PAINT_GRAB") == "1",
            quit_after=os.environ.get("NETBUILDER_FIRST_PAINT_QUIT", "1") == "1")
    hook = ErrorHook(window)
    sys.excepthook = hook
    window.error_hook = hook  # type: ignore[attr-defined]
    if open_after_paint:
        window.call_after_first_paint(lambda: open_initial_document(window, args.files))
    else:
        open_initial_document(window, args.files)
    window.show()
    return window


def open_initial_document(window: MainWindow, files: list[str]) -> None:
    """Recovered work if the user takes it, else the first file named, else the example."""
    from netbuilder.lazy_modules import load

    load("networkx")  # here, on the GUI thread, before any worker thread can touch it
    restored = window.files.offer_recovery()
    opened = False
    if files and not restored:
        opened = window.files.open(Path(files[0]))
        if opened and len(files) > 1:
            window.show_message(f"Opened {Path(files[0]).name}; a window shows one document, so "
                                f"{len(files) - 1} more file(s) were not opened.")
    if not restored and not opened:
        window.open_template(FIRST_RUN_TEMPLATE, ask=False)


def run_app(argv: list[str]) -> int:
    """Run the editor until its window closes. ``argv`` holds the arguments only (no program name). On a PySide6
    release that would abort the app later (see netbuilder_ui._compat) it says why in one line and returns 2."""
    from netbuilder_ui._compat import unsupported_pyside

    problem = unsupported_pyside()
    if problem is not None:
        print(f"netbuilder: {problem}", file=sys.stderr)
        return 2
    window = launch(list(argv), open_after_paint=True)
    app = QApplication.instance()
    assert app is not None
    try:
        return app.exec()
    finally:
        hook = getattr(window, "error_hook", None)
        if hook is not None and sys.excepthook is hook:
            sys.excepthook = hook.previous


def main() -> int:
    """``python -m netbuilder_ui.app [FILE]``."""
    return run_app(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
