"""Process pools that stop promptly (queued work is dropped on an error or interrupt)
and keep memory bounded (only a few tasks are in flight at a time)."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor


class _Pool(ProcessPoolExecutor):
    def imap(self, fn: Callable, items: Iterable, window: int) -> Iterator:
        """Results in input order, with at most ``window`` tasks submitted but not yet consumed."""
        pending: deque = deque()
        for item in items:
            pending.append(self.submit(fn, item))
            if len(pending) >= window:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            for process in list((self._processes or {}).values()):
                process.terminate()
            self.shutdown(wait=True, cancel_futures=True)
            return False
        return super().__exit__(exc_type, exc, tb)


class _InlinePool:
    """Runs in the calling process (one worker): simpler to debug, no pickling."""

    def map(self, fn, items, chunksize=1):
        return map(fn, items)

    def imap(self, fn, items, window=1):
        return map(fn, items)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def process_pool(workers: int):
    return _InlinePool() if workers <= 1 else _Pool(max_workers=workers)
