"""Garbage is collected on the GUI thread only while the app runs (see netbuilder_ui.gc_guard)."""

from __future__ import annotations

import gc

from PySide6.QtCore import QObject

from netbuilder_ui.gc_guard import MainThreadCollector


class _Cycle:
    def __init__(self) -> None:
        self.me = self


def test_collection_is_switched_off_then_done_on_the_timer_and_handed_back(qtbot) -> None:
    assert gc.isenabled()
    owner = QObject()
    collector = MainThreadCollector(owner, interval_ms=10)
    try:
        assert not gc.isenabled()
        gc.collect()
        collected = []
        cycle = _Cycle()
        gc.callbacks.append(lambda phase, info: collected.append(info["collected"]) if phase == "stop" else None)
        del cycle
        for _ in range(gc.get_threshold()[0] + 10):  # push generation 0 past its threshold
            _Cycle()
        qtbot.waitUntil(lambda: sum(collected) > 0, timeout=2000)
    finally:
        gc.callbacks.clear()
        collector.stop()
    assert gc.isenabled()


def test_the_collector_gives_collection_back_when_its_window_goes(qtbot) -> None:
    owner = QObject()
    MainThreadCollector(owner)
    assert not gc.isenabled()
    owner.deleteLater()
    qtbot.waitUntil(gc.isenabled, timeout=2000)
