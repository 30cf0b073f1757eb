"""Cooperative interruption of long computations (SIGINT/SIGTERM).

Signal handlers only record the signal (:func:`request`); long loops call :func:`check`
at safe points (after every simulated or learned block, between evaluation batches,
between the rules of a gradient check), which raises :class:`Interrupted` once a signal
arrived. Raising from inside a handler is avoided on purpose: the exception could land
in a weakref callback or ``__del__`` (e.g. inside h5py) and be swallowed.

The handlers are installed by :func:`snnsim.cli.signals.stop_on_signals` for the duration
of a command; outside it :func:`check` never raises (the Python API keeps the default
KeyboardInterrupt behaviour). Data-parallel (MPI) training disables the checks inside an
iteration (:func:`inner_checks`) so that every rank stops at the same iteration boundary.
"""
import signal

EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}

_state = {"signum": None, "inner": True}


class Interrupted(BaseException):
    """Raised at the next safe point after SIGINT/SIGTERM, so ``with`` blocks close files.

    A BaseException (like KeyboardInterrupt), so ``except Exception`` clean-up code does
    not swallow it. ``exit_code`` is 128 + the signal number (130 for SIGINT, 143 for SIGTERM).
    """

    def __init__(self, signum):
        self.signum = int(signum)
        self.signame = signal.Signals(signum).name
        self.exit_code = EXIT_CODES.get(signum, 128 + int(signum))
        super().__init__(self.signame)


def request(signum):
    """Record that ``signum`` arrived (the first signal wins); called by signal handlers."""
    if _state["signum"] is None:
        _state["signum"] = int(signum)


def pending():
    """The signal number recorded by :func:`request`, or None."""
    return _state["signum"]


def reset():
    """Forget any recorded signal (at the start and end of a command)."""
    _state["signum"] = None


def inner_checks(enabled):
    """Enable or disable :func:`check` inside iterations (see :func:`check_inner`)."""
    _state["inner"] = bool(enabled)


def check():
    """Raise :class:`Interrupted` if a signal was recorded."""
    if _state["signum"] is not None:
        raise Interrupted(_state["signum"])


def check_inner():
    """:func:`check` at block granularity inside one iteration (off under MPI training)."""
    if _state["inner"] and _state["signum"] is not None:
        raise Interrupted(_state["signum"])
