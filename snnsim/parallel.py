"""Data parallelism over MPI: :class:`MPIComm`, the ``comm`` of :class:`snnsim.trainer.Trainer`.

Run ``mpiexec -n K snnsim train CONFIG.toml --mpi --out train.h5``: every rank draws the
same global batch (``train.batch`` trials) from the same seeded Generator, simulates its
contiguous shard of the trials (:meth:`MPIComm.shard`), and the shard-size-weighted
gradients, losses and accuracies are summed over the ranks (:meth:`MPIComm.allreduce_sum`)
before the same optimiser step on every rank; rank 0 alone writes the HDF5 file. With the
same seed and global batch the run equals the single-process run up to the order of
floating-point summation (tested to rtol 1e-10 in float64).

``allreduce_sum`` gathers every rank's array and adds them in rank order on every rank
(instead of ``MPI_Allreduce``, whose reduction tree may round differently on different
ranks), so the weights stay identical on all ranks whatever the MPI library or K.

mpi4py is imported lazily (``pip install 'snnsim[mpi]'``, plus an MPI library such as
Debian's ``openmpi-bin libopenmpi-dev``); without it ``--mpi`` is a one-line ConfigError.
"""
import os

import numpy as np

from .errors import ConfigError, SnnsimError


def _mpi():
    try:
        from mpi4py import MPI
    except ImportError as exc:
        raise ConfigError("--mpi", "needs mpi4py: pip install 'snnsim[mpi]' (and an MPI library, "
                                   f"e.g. apt-get install openmpi-bin libopenmpi-dev) ({exc})") from None
    return MPI


def shard_slice(B, rank, size):
    """Contiguous slice of ``B`` trials for ``rank`` of ``size`` (sizes differ by at most 1)."""
    B = int(B)
    if B < size:
        raise ConfigError("train.batch", f"must be >= the number of MPI ranks ({size}) "
                                         f"so that every rank has a trial, got {B}")
    q, r = divmod(B, size)
    start = rank * q + min(rank, r)
    return slice(start, start + q + (rank < r))


class RootFailed(SnnsimError):
    """Raised on the other ranks when a step that only rank 0 does failed there."""


class MPIComm:
    """The ranks of ``MPI.COMM_WORLD`` (or ``comm``) sharing one data-parallel run."""

    def __init__(self, comm=None):
        MPI = _mpi()
        self.MPI = MPI
        self.comm = MPI.COMM_WORLD if comm is None else comm
        self.rank = self.comm.Get_rank()
        self.size = self.comm.Get_size()
        self.global_batch = None   # set to train.batch before training

    @property
    def is_root(self):
        return self.rank == 0

    def shard(self, B):
        """This rank's contiguous slice of ``B`` trials (shard sizes differ by at most 1)."""
        return shard_slice(B, self.rank, self.size)

    def allreduce_sum(self, array):
        """Sum of ``array`` over the ranks (in float64, in rank order), in the input's dtype."""
        a = np.asarray(array)
        send = np.array(a, dtype=np.float64, order="C")   # (ascontiguousarray makes 0-d 1-d)
        recv = np.empty((self.size,) + send.shape, dtype=np.float64)
        self.comm.Allgather(send, recv)
        total = recv[0].copy()
        for k in range(1, self.size):   # fixed order: the same bits on every rank
            total += recv[k]
        return total.astype(a.dtype, copy=False) if a.dtype.kind in "fiu" else total

    def bcast(self, obj, root=0):
        return self.comm.bcast(obj, root=root)

    def gather(self, obj, root=0):
        """List of every rank's ``obj`` on ``root`` (None on the other ranks)."""
        return self.comm.gather(obj, root=root)

    def first_signal(self, signum):
        """The signal recorded on the lowest rank that has one (``signum``: this rank's, or
        None), the same on every rank: a SIGINT/SIGTERM that reached any rank stops all of
        them at the same point."""
        return next((s for s in self.comm.allgather(signum) if s is not None), None)

    def barrier(self):
        self.comm.Barrier()

    def local_size(self):
        """Number of ranks on this node (sharing its cores)."""
        node = self.comm.Split_type(self.MPI.COMM_TYPE_SHARED)
        try:
            return node.Get_size()
        finally:
            node.Free()

    def limit_threads(self):
        """Share the node's cores between its ranks (numba threads), unless NUMBA_NUM_THREADS is set."""
        if os.environ.get("NUMBA_NUM_THREADS"):
            return None
        import numba
        n = max(1, (os.cpu_count() or 1) // self.local_size())
        numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
        return n

    def root_only(self, fn):
        """Run ``fn()`` on rank 0 only; if it raises, it re-raises there and the other ranks
        raise :class:`RootFailed` (so that no rank is left waiting in a collective)."""
        out, err = None, None
        if self.is_root:
            try:
                out = fn()
            except BaseException as exc:   # noqa: BLE001 - re-raised below
                err = exc
        failed = self.bcast(None if err is None else (str(err).strip().splitlines() or [""])[0])
        if err is not None:
            raise err
        if failed is not None:
            raise RootFailed(f"rank 0 failed: {failed}")
        return out

    def __repr__(self):
        return f"MPIComm(rank={self.rank}, size={self.size}, global_batch={self.global_batch})"
