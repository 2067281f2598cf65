"""Loading and running a compiled model.

    m = litec.runtime.load("model.litec", threads=None)
    m.inputs, m.outputs                  # TensorSpecs, in signature order
    out = m.run({"input": x})            # or m.run([x]); a dict by output name, in order
    out = m.run(x_dict, profile=True)    # also records per-step times
    m.profile(); m.export_chrome_trace("trace.json")

Loading checks the artifact (runtime/artifact.py) and this machine against its target,
maps the file (constants are used in place when they are 64-byte aligned in memory, as in
a mapped file, and copied once otherwise), allocates the one arena, loads each backend's
executor and turns every step into a ready call on fixed addresses. A run copies the
inputs into the arena, runs `@main`'s steps and copies the outputs out: nothing else is
allocated.

Threads: a kernel step split into up to P parts (`Step.parts`) runs as n = min(threads, P)
calls (p, n), p < n: n − 1 on the model's worker threads, one on the calling thread, all
finished before the next step (ctypes releases the GIL during each call, so they run in
parallel). With threads=1 there are no workers and such a step is one call (0, 1).
"""

from __future__ import annotations

import ctypes
import functools
import json
import mmap
import os
import queue
import threading
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from time import perf_counter_ns

import numpy as np

from litec.runtime import plan
from litec.runtime.artifact import ALIGN, read_artifact
from litec.runtime.cpu_executor import check_target
from litec.runtime.errors import LitecError
from litec.runtime.executor import Executor, load_executor

Call = tuple[Callable, object]
"""A ready step: `call(arg)`."""


def _aligned_zeros(size: int) -> np.ndarray:
    raw = np.zeros(size + ALIGN, dtype=np.uint8)
    start = -raw.ctypes.data % ALIGN
    return raw[start : start + size]


def _constants(data) -> np.ndarray:
    """The constant segment in place if it is 64-byte aligned in memory, else one copy."""
    view = np.frombuffer(data, dtype=np.uint8)
    if view.ctypes.data % ALIGN == 0:
        return view
    copy = _aligned_zeros(len(view))
    copy[:] = view
    return copy


def _copy(arg: tuple[int, int, int]) -> None:
    ctypes.memmove(*arg)


def thread_count(threads: int | None) -> int:
    """The threads a model runs on: `threads`, or every core for None."""
    if threads is None:
        return os.cpu_count() or 1
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise LitecError(
            f"threads must be a whole number >= 1 (or None for all cores), not {threads!r}"
        )
    return threads


Part = tuple[Callable, list[int]]
"""One part of a split step: a kernel and its addresses, the part's descriptor last."""


class _Workers:
    """Threads that run parts of split steps beside the calling thread."""

    def __init__(self, count: int):
        self._tasks: list[queue.SimpleQueue] = [queue.SimpleQueue() for _ in range(count)]
        self._done: queue.SimpleQueue = queue.SimpleQueue()
        for i, tasks in enumerate(self._tasks):
            thread = threading.Thread(
                target=_work, args=(tasks, self._done), name=f"litec-worker-{i}", daemon=True
            )
            thread.start()

    def run(self, parts: list[Part]) -> None:
        """Run parts[1:] on the workers and parts[0] here; return when all have finished,
        raising the first error any of them raised."""
        for tasks, part in zip(self._tasks[: len(parts) - 1], parts[1:], strict=True):
            tasks.put(part)
        error = None
        try:
            fn, args = parts[0]
            fn(args)
        except BaseException as e:  # noqa: BLE001 - re-raised once the workers are done
            error = e
        for _ in parts[1:]:
            failed = self._done.get()
            error = error or failed
        if error is not None:
            raise error

    def close(self) -> None:
        """Let the threads end (each after the task it holds)."""
        for tasks in self._tasks:
            tasks.put(None)


def _stop(workers: _Workers | None) -> None:
    """Stop a model's workers, if it has any (when it is closed or collected)."""
    if workers is not None:
        workers.close()


def _work(tasks: queue.SimpleQueue, done: queue.SimpleQueue) -> None:
    """A worker: run parts until told to stop; report each as None or its exception."""
    while (task := tasks.get()) is not None:
        fn, args = task
        try:
            fn(args)
        except BaseException as e:  # noqa: BLE001 - handed to the calling thread
            done.put(e)
        else:
            done.put(None)


@dataclass
class _Loop:
    """A WHILE step with its buffer moves resolved to (destination, source, size)."""

    start: list[tuple[int, int, int]]
    to_cond: list[tuple[int, int, int]]
    to_body: list[tuple[int, int, int]]
    from_body: list[tuple[int, int, int]]
    cond: str
    body: str
    flag: ctypes.c_uint8


class Model:
    """A loaded artifact, ready to run."""

    def __init__(self, exe: plan.Executable, threads: int | None = None, keep=None):
        self.executable = exe
        self.threads = thread_count(threads)
        self._keep = keep  # the mapped file, alive as long as its constants are used
        self._memory = {
            plan.ARENA: _allocate_arena(exe.arena_size),
            plan.CONST: _constants(exe.constants),
        }
        self._executors: dict[str, Executor] = {}
        for section in exe.sections:
            self._executors[section.backend] = _executor(section, self.threads)
        self._kernels: dict[tuple[str, str], Callable] = {}
        self._descriptors: dict[tuple[int, int], ctypes.Array] = {}
        self._workers = self._start_workers()
        self._stop_workers = weakref.finalize(self, _stop, self._workers)
        self._calls = {name: [self._ready(s) for s in f.steps] for name, f in exe.functions.items()}
        main = exe.functions["main"]
        self._in_views = [self._view(r, s) for r, s in zip(main.inputs, exe.inputs, strict=True)]
        self._out_views = [self._view(r, s) for r, s in zip(main.outputs, exe.outputs, strict=True)]
        self._events: list | None = None
        self._runs: list[tuple[int, int, list]] = []

    # ------------------------------------------------------------------------- public

    @property
    def inputs(self) -> list[plan.TensorSpec]:
        """The model's inputs, in signature order."""
        return list(self.executable.inputs)

    @property
    def outputs(self) -> list[plan.TensorSpec]:
        """The model's outputs, in signature order."""
        return list(self.executable.outputs)

    def run(self, inputs, profile: bool = False) -> dict[str, np.ndarray]:
        """Run the model on inputs by name (or a list in signature order).

        Returns the outputs by name, in signature order (copies: the next run reuses
        the arena). With `profile`, each step's time is recorded for `profile()`."""
        if self._calls is None:
            raise LitecError("the model was closed")
        for view, arr in zip(self._in_views, self._check_inputs(inputs), strict=True):
            np.copyto(view, arr)
        self._events = [] if profile else None
        start = perf_counter_ns()
        self._execute("main")
        if profile:
            self._runs.append((start, perf_counter_ns() - start, self._events))
        self._events = None
        return {s.name: v.copy() for s, v in zip(self.outputs, self._out_views, strict=True)}

    def profile(self) -> list[dict]:
        """Per step, over every profiled run: calls and total / mean milliseconds."""
        totals: dict[tuple[str, int], list[int]] = {}
        for _, _, events in self._runs:
            for fn, i, _, dur in events:
                entry = totals.setdefault((fn, i), [0, 0])
                entry[0] += 1
                entry[1] += dur
        rows = []
        for fn, f in self.executable.functions.items():
            for i, step in enumerate(f.steps):
                calls, total = totals.get((fn, i), (0, 0))
                if calls:
                    rows.append(_profile_row(fn, i, step, calls, total))
        return rows

    def export_chrome_trace(self, path: str | os.PathLike) -> None:
        """Write the profiled runs as Chrome trace JSON (chrome://tracing, Perfetto)."""
        if not self._runs:
            raise LitecError("no profile recorded: run the model with profile=True first")
        origin = self._runs[0][0]
        events = []
        for n, (start, dur, steps) in enumerate(self._runs):
            events.append(_trace_event(f"run {n}", "run", start - origin, dur, {}))
            for fn, i, t, d in steps:
                step = self.executable.functions[fn].steps[i]
                args = {"function": fn, "step": i, "op_indices": step.op_indices}
                if step.kernel:
                    args["kernel"] = step.kernel
                events.append(_trace_event(step.name, step.kind, t - origin, d, args))
        text = json.dumps({"traceEvents": events, "displayTimeUnit": "ms"}, indent=1)
        Path(path).write_text(text, encoding="utf-8")

    def reset_profile(self) -> None:
        """Forget the profiled runs."""
        self._runs = []

    def close(self) -> None:
        """Release the executors (e.g. unload shared objects) and the worker threads; the
        model cannot run after."""
        self._calls = None
        self._kernels = {}
        self._stop_workers()
        for ex in self._executors.values():
            ex.close()
        self._executors = {}

    def __enter__(self) -> Model:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------------------- preparing

    def _start_workers(self) -> _Workers | None:
        """Worker threads for the split steps (one fewer than the most parts a step uses)."""
        most = max(
            (s.parts for f in self.executable.functions.values() for s in f.steps), default=0
        )
        count = min(self.threads, most) - 1
        return _Workers(count) if count > 0 else None

    def _descriptor(self, part: int, parts: int) -> int:
        """The address of the int64 pair (part, parts) a split kernel reads (made once)."""
        key = (part, parts)
        if key not in self._descriptors:
            self._descriptors[key] = (ctypes.c_int64 * 2)(part, parts)
        return ctypes.addressof(self._descriptors[key])

    def _address(self, ref: plan.BufferRef) -> int:
        return self._memory[ref.segment].ctypes.data + ref.offset

    def _view(self, ref: plan.BufferRef, spec: plan.TensorSpec) -> np.ndarray:
        raw = self._memory[ref.segment][ref.offset : ref.offset + ref.size]
        return raw.view(np.dtype(spec.dtype)).reshape(spec.shape)

    def _moves(self, dst: list[plan.BufferRef], src: list[plan.BufferRef]):
        pairs = (
            (self._address(d), self._address(s), s.size) for d, s in zip(dst, src, strict=True)
        )
        return [p for p in pairs if p[0] != p[1]]

    def _ready(self, step: plan.Step) -> Call:
        """A step as a call on fixed addresses."""
        if step.kind == "copy":
            src, dst = step.args
            return _copy, (self._address(dst), self._address(src), src.size)
        if step.kind == "while":
            return self._loop, self._prepare_loop(step)
        key = (step.backend, step.kernel)
        if key not in self._kernels:
            self._kernels[key] = self._executors[step.backend].kernel(step.kernel)
        fn, args = self._kernels[key], [self._address(r) for r in step.args]
        if not step.parts:
            return fn, args
        n = min(self.threads, step.parts)
        parts = [(fn, [*args, self._descriptor(p, n)]) for p in range(n)]
        if n == 1:
            return parts[0]
        assert self._workers is not None
        return self._workers.run, parts

    def _prepare_loop(self, step: plan.Step) -> _Loop:
        n = len(step.args) // 2
        ins, outs = step.args[:n], step.args[n:]
        cond = self.executable.functions[step.cond]
        body = self.executable.functions[step.body]
        flag = ctypes.c_uint8.from_address(self._address(cond.outputs[0]))
        return _Loop(
            start=self._moves(outs, ins),
            to_cond=self._moves(cond.inputs, outs),
            to_body=self._moves(body.inputs, outs),
            from_body=self._moves(outs, body.outputs),
            cond=step.cond,
            body=step.body,
            flag=flag,
        )

    # ------------------------------------------------------------------------- running

    def _execute(self, name: str) -> None:
        events = self._events
        if events is None:
            for call, arg in self._calls[name]:
                call(arg)
            return
        for i, (call, arg) in enumerate(self._calls[name]):
            start = perf_counter_ns()
            call(arg)
            events.append((name, i, start, perf_counter_ns() - start))

    def _loop(self, loop: _Loop) -> None:
        """TFLite WHILE: outputs start as the inputs; run body while cond says so."""
        for move in loop.start:
            ctypes.memmove(*move)
        while True:
            for move in loop.to_cond:
                ctypes.memmove(*move)
            self._execute(loop.cond)
            if not loop.flag.value:
                return
            for move in loop.to_body:
                ctypes.memmove(*move)
            self._execute(loop.body)
            for move in loop.from_body:
                ctypes.memmove(*move)

    def _check_inputs(self, inputs) -> list[np.ndarray]:
        specs = self.executable.inputs
        names = [s.name for s in specs]
        if isinstance(inputs, Mapping):
            unknown = [k for k in inputs if k not in names]
            if unknown:
                raise LitecError(f"unknown input '{unknown[0]}'; the model's inputs are {names}")
            missing = [n for n in names if n not in inputs]
            if missing:
                raise LitecError(f"missing input '{missing[0]}'")
            arrays = [inputs[n] for n in names]
        else:
            arrays = list(inputs)
            if len(arrays) != len(specs):
                raise LitecError(f"expected {len(specs)} inputs, got {len(arrays)}")
        return [_checked(spec, np.asarray(arr)) for spec, arr in zip(specs, arrays, strict=True)]


def _checked(spec: plan.TensorSpec, arr: np.ndarray) -> np.ndarray:
    if arr.shape != tuple(spec.shape):
        raise LitecError(
            f"input '{spec.name}' has shape {list(arr.shape)}, the model expects {list(spec.shape)}"
        )
    if arr.dtype != np.dtype(spec.dtype):
        raise LitecError(
            f"input '{spec.name}' has dtype {arr.dtype}, the model expects {spec.dtype}"
        )
    return arr


def _profile_row(fn: str, i: int, step: plan.Step, calls: int, total_ns: int) -> dict:
    return {
        "function": fn,
        "step": i,
        "name": step.name,
        "kind": step.kind,
        "kernel": step.kernel,
        "op_indices": list(step.op_indices),
        "calls": calls,
        "total_ms": total_ns / 1e6,
        "mean_ms": total_ns / 1e6 / calls,
    }


def _trace_event(name: str, cat: str, start_ns: int, dur_ns: int, args: dict) -> dict:
    return {
        "name": name,
        "cat": cat,
        "ph": "X",
        "ts": start_ns / 1e3,
        "dur": dur_ns / 1e3,
        "pid": 0,
        "tid": 0,
        "args": args,
    }


def _allocate_arena(size: int) -> np.ndarray:
    try:
        return _aligned_zeros(size)
    except (MemoryError, ValueError):
        raise LitecError(f"cannot allocate the model's arena of {size} bytes") from None


@functools.cache
def _executor_class(backend: str) -> type[Executor]:
    """The installed executor of a backend (scanning entry points is slow: once each)."""
    return load_executor(backend)


def _executor(section: plan.SectionData, threads: int | None) -> Executor:
    try:
        cls = _executor_class(section.backend)
    except KeyError:
        raise LitecError(
            f"no executor for backend '{section.backend}' is installed "
            "(entry-point group litec.executors)"
        ) from None
    return cls(section, threads=threads)


def _read(path: Path):
    """The file's bytes: a read-only mapping, or plain bytes for an empty file."""
    try:
        with open(path, "rb") as f:
            if os.fstat(f.fileno()).st_size == 0:
                return b""
            return mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    except FileNotFoundError:
        raise LitecError("no such file") from None
    except OSError as e:
        raise LitecError(f"cannot read: {e.strerror or e}") from None


def load(source, threads: int | None = None) -> Model:
    """Load an artifact from a path or from bytes; checks it and this machine first.

    `threads`: how many threads split kernel steps run on; None = all cores."""
    if isinstance(source, bytes | bytearray | memoryview):
        return _load(source, threads)
    try:
        return _load(_read(Path(source)), threads)
    except LitecError as e:
        raise e.at(file=str(source)) from None


def _load(data, threads: int | None) -> Model:
    exe = read_artifact(data)
    check_target(exe.target)
    return Model(exe, threads, keep=data)
