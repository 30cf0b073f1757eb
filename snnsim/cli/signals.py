"""SIGINT/SIGTERM handling for long subcommands: stop at the next safe point, close files."""
import contextlib
import signal


EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}


class Interrupted(BaseException):
    """Raised at the next block boundary after SIGINT/SIGTERM, so ``with`` blocks close the file."""

    def __init__(self, signum):
        self.signame = signal.Signals(signum).name
        self.exit_code = EXIT_CODES.get(signum, 128 + int(signum))
        super().__init__(self.signame)


class StopRequest:
    """Set by the signal handlers; :meth:`check` raises :class:`Interrupted` once set.

    The handlers only record the signal: an exception raised inside a handler can land in a
    weakref callback or ``__del__`` and be swallowed, so it is raised at safe points instead
    (after every simulated block and before the output file is created).
    """

    def __init__(self):
        self.signum = None

    def check(self):
        if self.signum is not None:
            raise Interrupted(self.signum)


@contextlib.contextmanager
def stop_on_signals():
    """While active, SIGINT/SIGTERM set the yielded :class:`StopRequest`."""
    stop = StopRequest()

    def handler(signum, frame):
        if stop.signum is None:
            stop.signum = signum

    previous = {}
    try:
        for s in EXIT_CODES:
            previous[s] = signal.signal(s, handler)
    except ValueError:  # not in the main thread: leave the handlers alone
        pass
    try:
        yield stop
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
