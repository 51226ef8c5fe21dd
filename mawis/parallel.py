"""Process pools that stop promptly and cleanly (queued work is dropped on an error or
interrupt) and keep memory bounded (only a few tasks are in flight at a time).

An early stop (an exception, Ctrl-C or SIGTERM leaving the ``with`` block) must print no
worker traceback and hang no process. Two things broke that before:

* Workers are forked from the caller and inherited its Python signal handlers: the CLI's
  SIGTERM handler (SystemExit) and Python's SIGINT handler (KeyboardInterrupt; Ctrl-C reaches
  the whole process group). ``terminate()`` or Ctrl-C thus raised an exception at an arbitrary
  point in a worker: inside a task, where the executor catches it and the worker lives on; or
  half-way through reading the call queue the workers share, leaving the pipe mid-message (the
  next reader fails with ``EOFError: Ran out of input``) or its read lock taken (the next
  reader, and the parent joining it, wait forever).
* Killing workers while they exchange data with the executor's threads can leave those
  channels half-written.

So workers ignore SIGINT (the parent decides how to stop) and die on SIGTERM without running
Python code, and they start with both signals blocked until those settings are made. An
early stop cancels the queued tasks and lets the running ones finish (every worker then
leaves through the executor's own shutdown); only tasks still running after
``STOP_GRACE_S`` are killed, and the parent's side of the channels is then unblocked.
"""

from __future__ import annotations

import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from multiprocessing.connection import wait as wait_for_sentinels

STOP_GRACE_S = 1.0  # an early stop lets running tasks finish for this long, then kills their workers
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_CAN_MASK = hasattr(signal, "pthread_sigmask")


def _init_worker() -> None:
    """First thing each worker runs (with SIGINT and SIGTERM blocked, see ``_StopSignalsHeld``)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)   # Ctrl-C is for the parent, which stops the pool
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # terminate() ends the worker; no Python code runs
    if _CAN_MASK:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)


class _StopSignalsHeld:
    """SIGINT and SIGTERM held back while the executor may start workers (inside ``submit``).

    They are blocked in this thread, so a worker forked (or spawned) from it starts with them
    blocked and never runs the parent's handlers before ``_init_worker``; and the main thread's
    Python handlers only take note, so no exception is raised half-way through the executor's
    bookkeeping (a started worker not yet registered would be waited for forever). A signal
    that came in is acted on right after, as if it came then.
    """

    def __enter__(self):
        self.active, self.received, self.previous = True, [], {}
        if threading.current_thread() is threading.main_thread():
            for sig in _STOP_SIGNALS:
                if signal.getsignal(sig) is not None:  # None: set outside Python, cannot be restored
                    self.previous[sig] = signal.signal(sig, self._note)
        self.mask = signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS) if _CAN_MASK else None
        return self

    def _note(self, signum, frame):
        if self.active:
            self.received.append(signum)
        else:  # came while the handlers are being put back
            signal.signal(signum, self.previous[signum])
            signal.raise_signal(signum)

    def __exit__(self, *exc):
        self.active = False
        if self.mask is not None:
            signal.pthread_sigmask(signal.SIG_SETMASK, self.mask)
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)
        for signum in dict.fromkeys(self.received):
            signal.raise_signal(signum)
        return False


class _Pool(ProcessPoolExecutor):
    def __init__(self, max_workers: int):
        super().__init__(max_workers=max_workers, initializer=_init_worker)
        # once the workers are gone, writing to the call queue fails with EPIPE: that is the end
        # of the pool (the executor fails the futures), not an error to print from a thread
        if hasattr(getattr(self, "_call_queue", None), "_ignore_epipe"):
            self._call_queue._ignore_epipe = True

    def submit(self, fn, /, *args, **kwargs):
        with _StopSignalsHeld():  # the executor starts its workers from here
            return super().submit(fn, *args, **kwargs)

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
            self.stop()
            return False
        return super().__exit__(exc_type, exc, tb)

    def stop(self, grace: float = STOP_GRACE_S) -> None:
        """Drop the queued tasks, give the running ones ``grace`` seconds, then kill their workers.

        Returns when the workers have exited. A second interrupt while waiting kills at once
        (and is raised after)."""
        manager, processes = self._executor_manager_thread, list((self._processes or {}).values())
        results = self._result_queue
        self.shutdown(wait=False, cancel_futures=True)  # clears the references read above
        if manager is None:
            return
        interrupted = None
        try:
            manager.join(grace)
        except BaseException as exc:  # Ctrl-C or SIGTERM during the wait
            interrupted = exc
        if manager.is_alive():
            for process in processes:
                process.kill()
            _wait_until_dead(processes, timeout=10)
            # a worker killed while sending a result leaves the manager thread waiting for the
            # rest of the message; with the parent's write end closed too, it reads EOF instead
            writer = getattr(results, "_writer", None)
            if writer is not None:
                writer.close()
            manager.join(10)
        elif results is not None:
            results.close()
        if interrupted is not None:
            raise interrupted


def _wait_until_dead(processes: list, timeout: float) -> None:
    """Wait for the processes' exit without reaping them: the manager thread reaps them (a
    second waitpid would leave it believing they are alive)."""
    deadline = time.monotonic() + timeout
    sentinels = [p.sentinel for p in processes]
    while sentinels and time.monotonic() < deadline:
        ready = wait_for_sentinels(sentinels, timeout=max(0.0, deadline - time.monotonic()))
        sentinels = [s for s in sentinels if s not in ready]


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
