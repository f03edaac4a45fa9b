"""A tqdm progress bar on stderr for the library's progress callbacks: one bar per
stage, created on the first call, so nothing is drawn for work that never starts."""

from __future__ import annotations

import sys
from collections.abc import Callable

from tqdm import tqdm


class ProgressBar:
    def __init__(self, unit: str = "text") -> None:
        self.unit = unit
        self.bar: tqdm | None = None

    def __call__(self, stage: str, done: int, total: int) -> None:
        """The index's callback: ``(stage, done, total)``."""
        if self.bar is None or self.bar.desc != stage:
            self.close()
            self.bar = tqdm(total=total, desc=stage, unit=self.unit, file=sys.stderr)
        self.bar.total = total
        self.bar.n = done
        self.bar.refresh()

    def stage(self, name: str) -> Callable[[int, int], None]:
        """A ``(done, total)`` callback for one named stage (the evaluation's)."""
        return lambda done, total: self(name, done, total)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
