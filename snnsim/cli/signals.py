"""SIGINT/SIGTERM handling for long subcommands: stop at the next safe point, close files.

The mechanism (a recorded signal, checked at block granularity) is :mod:`snnsim.interrupt`;
this module installs its handlers for the duration of a command. SIGXFSZ (file size limit
reached) is ignored while a command runs, so a write past the limit fails with EFBIG and
becomes a one-line error instead of killing the process.
"""
import contextlib
import signal

from .. import interrupt
from ..interrupt import EXIT_CODES, Interrupted

__all__ = ["EXIT_CODES", "Interrupted", "StopRequest", "stop_on_signals"]


class StopRequest:
    """View of the recorded signal; :meth:`check` raises :class:`Interrupted` once one arrived."""

    @property
    def signum(self):
        return interrupt.pending()

    @signum.setter
    def signum(self, value):   # MPI: every rank adopts rank 0's decision
        interrupt.reset()
        if value is not None:
            interrupt.request(value)

    def check(self):
        interrupt.check()


@contextlib.contextmanager
def stop_on_signals():
    """While active, SIGINT/SIGTERM are recorded in the yielded :class:`StopRequest`."""
    def handler(signum, frame):
        interrupt.request(signum)

    previous = {}
    interrupt.reset()
    try:
        for s in EXIT_CODES:
            previous[s] = signal.signal(s, handler)
        if hasattr(signal, "SIGXFSZ"):
            previous[signal.SIGXFSZ] = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    except ValueError:  # not in the main thread: leave the handlers alone
        pass
    try:
        yield StopRequest()
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
        interrupt.reset()
        interrupt.inner_checks(True)
