"""A race detector for kernels run on Numba's CUDA simulator (racecheck, in miniature).

Timing cannot show a missing atomic on the simulator (its threads rarely interleave inside a
read-modify-write) nor on a small GPU grid, so this records every element access instead: the
arrays given to a launch are wrapped so that each read and write notes which thread made it, and
which were made inside ``cuda.atomic.*``. An element has a race when two threads of one launch
touch it and one of them writes it plainly, or one reads or writes it plainly while another
updates it atomically (an atomic is atomic only against other atomics). Launches are ordered, so
accesses of different launches never conflict.

Only arrays passed as arguments are watched (not the tapes a launcher allocates). Simulator only:
``RACES_CHECKABLE`` is False on a real GPU.
"""

import contextlib
import threading
from collections import defaultdict

import numpy as np
from numba import config

RACES_CHECKABLE = bool(config.ENABLE_CUDASIM)

if RACES_CHECKABLE:
    from numba.cuda.simulator import kernel as _sim_kernel
    from numba.cuda.simulator import kernelapi as _sim_api
    from numba.cuda.simulator.cudadrv.devicearray import FakeCUDAArray
else:  # pragma: no cover - a real GPU
    FakeCUDAArray = object

_ATOMICS = ("add", "sub", "max", "min", "nanmax", "nanmin", "exch", "cas", "inc", "dec",
            "and_", "or_", "xor")


class Recorder:
    def __init__(self):
        self.launch = 0
        self.accesses = defaultdict(lambda: defaultdict(set))  # (launch, name, flat) -> thread -> kinds
        self._local = threading.local()
        self._lock = threading.Lock()

    def note(self, name, shape, idx, kind):
        thread = threading.current_thread()
        if not isinstance(thread, _sim_kernel.BlockThread):
            return  # the host
        flat = _flat_index(idx, shape)
        if flat is None:
            return
        if getattr(self._local, "atomic", False):
            kind = "atomic"
        who = (tuple(thread.blockIdx), tuple(thread.threadIdx))
        with self._lock:
            self.accesses[self.launch, name, flat][who].add(kind)

    def races(self, limit=5):
        """[(array name, element index, {thread: kinds})] for the first ``limit`` races."""
        found = []
        for (_, name, flat), by_thread in self.accesses.items():
            if len(by_thread) < 2:
                continue
            plain_write = any("write" in k for k in by_thread.values())
            atomic = [t for t, k in by_thread.items() if "atomic" in k]
            plain = [t for t, k in by_thread.items() if k & {"read", "write"}]
            if plain_write or any(t != u for t in plain for u in atomic):
                found.append((name, flat, {t: sorted(k) for t, k in list(by_thread.items())[:4]}))
                if len(found) >= limit:
                    break
        return found


def _flat_index(idx, shape):
    if not isinstance(idx, tuple):
        idx = (idx,)
    try:
        idx = tuple(int(i) for i in idx)
    except TypeError:  # a slice: not a kernel's element access
        return None
    if len(idx) != len(shape):
        return None
    idx = tuple(i % n if n else i for i, n in zip(idx, shape))
    return int(np.ravel_multi_index(idx, shape))


class WatchedArray(FakeCUDAArray):
    """A simulator device array that tells ``recorder`` of every element access."""

    def __init__(self, ary, name, recorder):
        super().__init__(ary)
        self._watch = (name, recorder)

    def __getitem__(self, idx):
        name, rec = self._watch
        rec.note(name, self._ary.shape, idx, "read")
        return super().__getitem__(idx)

    def __setitem__(self, idx, val):
        name, rec = self._watch
        rec.note(name, self._ary.shape, idx, "write")
        return super().__setitem__(idx, val)


@contextlib.contextmanager
def watching(monkeypatch):
    """A :class:`Recorder` that sees every atomic and counts every kernel launch meanwhile."""
    rec = Recorder()
    for op in _ATOMICS:
        fn = getattr(_sim_api.FakeCUDAAtomic, op, None)
        if fn is not None:
            monkeypatch.setattr(_sim_api.FakeCUDAAtomic, op, _flagged(fn, rec))
    call = _sim_kernel.FakeCUDAKernel.__call__

    def counting_call(self, *args):
        if not (self._device or _sim_kernel._kernel_context):
            rec.launch += 1
        return call(self, *args)

    monkeypatch.setattr(_sim_kernel.FakeCUDAKernel, "__call__", counting_call)
    yield rec


def _flagged(fn, rec):
    def atomic(self, *args, **kwargs):
        rec._local.atomic = True
        try:
            return fn(self, *args, **kwargs)
        finally:
            rec._local.atomic = False
    return atomic


def describe(races):
    return "\n".join(f"  {name}[flat {flat}]: {threads}" for name, flat, threads in races)
