"""A grid of buckets over rectangles, to ask "which nodes meet this area" in about constant time (routing every
wire of a 500-node network asks it a few thousand times; a scene's own index is slower while items change)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable

from netbuilder.layout.routing import Rect

CELL = 400.0


class RectIndex:
    """Rectangles by key, bucketed on a square grid."""

    def __init__(self, cell: float = CELL):
        self.cell = cell
        self.rects: dict[Hashable, Rect] = {}
        self._buckets: dict[tuple[int, int], set[Hashable]] = defaultdict(set)

    def _cells(self, rect: Rect) -> list[tuple[int, int]]:
        c = self.cell
        x0, y0, x1, y1 = int(rect[0] // c), int(rect[1] // c), int(rect[2] // c), int(rect[3] // c)
        return [(x, y) for x in range(x0, x1 + 1) for y in range(y0, y1 + 1)]

    def put(self, key: Hashable, rect: Rect) -> None:
        if self.rects.get(key) == rect:
            return
        self.remove(key)
        self.rects[key] = rect
        for cell in self._cells(rect):
            self._buckets[cell].add(key)

    def remove(self, key: Hashable) -> None:
        rect = self.rects.pop(key, None)
        if rect is None:
            return
        for cell in self._cells(rect):
            bucket = self._buckets.get(cell)
            if bucket is not None:
                bucket.discard(key)
                if not bucket:
                    del self._buckets[cell]

    def clear(self) -> None:
        self.rects.clear()
        self._buckets.clear()

    def query(self, area: Rect) -> list[Rect]:
        """The rectangles that meet ``area`` (touching edges do not count)."""
        if area[2] - area[0] > 1e6:
            keys = set(self.rects)  # a very wide area: scanning everything is cheaper than every cell
        else:
            keys = set()
            tall = (area[3] - area[1]) / self.cell > 64
            if tall:  # a lane search spans all rows: keep the columns, walk the buckets present
                x0, x1 = int(area[0] // self.cell), int(area[2] // self.cell)
                for (x, _y), bucket in self._buckets.items():
                    if x0 <= x <= x1:
                        keys |= bucket
            else:
                for cell in self._cells(area):
                    bucket = self._buckets.get(cell)
                    if bucket:
                        keys |= bucket
        result = []
        for key in keys:
            r = self.rects[key]
            if r[0] < area[2] and r[2] > area[0] and r[1] < area[3] and r[3] > area[1]:
                result.append(r)
        return result
