"""Process pools that stop promptly: on an error or interrupt, queued work is dropped."""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor


class _Pool(ProcessPoolExecutor):
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

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def process_pool(workers: int):
    return _InlinePool() if workers <= 1 else _Pool(max_workers=workers)
