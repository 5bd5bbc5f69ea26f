"""What each way of calling greeter's Rust library costs, in one run.

    python benchmarks/bench.py [--quick] [--plot FILE.png] [--json FILE] [--soak]

run from a source checkout against the installed package (the script's directory, not the
working directory, goes on sys.path, so the installed greeter is the one imported);
``python -P -m greeter bench`` in the checkout's root runs this same file. It is not part of
the package: the wheel ships no benchmark.

Measured side by side, in one process:

- greeter's public API: ``add_numbers``, ``greet``, ``greeting()`` (also as a ``with`` block),
  ``greet_many``, and a function written as the README's recipe writes one (the generic text
  helper around a text export), beside ``greet``;
- the raw cffi ``lib`` calls greeter is built on (API mode, bound to a module global, and
  looked up on ``lib`` each call), through both modules: ``_greeter_cffi``, whose calls
  release the GIL, and ``_greeter_cffi_short``, whose short calls keep it;
- cffi ABI mode (``ffi.dlopen``) and ctypes on ``greeter.library_path()``, calling the
  tutorial-compatible functions the way the usual ctypes tutorial does (with argtypes and
  restype set);
- the floor: the same functions written against the CPython C API (METH_FASTCALL), compiled
  now from ``floor.c`` (beside this file) into a temporary directory with the C compiler
  Python was built with; it also calls the Rust library for the "C API calling Rust" rows.

Timing: every case runs a calibrated loop (like ``timeit``: the statement inlined in a ``for``
loop, loop overhead included, as in pyperf's ``timeit``) for a short slice; the cases are
interleaved round after round, and each case's figure is the median of its rounds. On a
shared machine, interleaving keeps a burst of load from skewing one case against another, so
the paired ratios are steadier than the absolute numbers. ``--json FILE`` writes the
per-round values as a pyperf benchmark suite (``python -m pyperf stats/compare_to FILE``).

``greet_async`` is measured as throughput: 10,000 concurrent awaits, completions per second and
process CPU time (every thread) per completion, next to ``asyncio.to_thread(greeter.greet)``;
and as responsiveness: the longest event-loop stall (a 1 ms ticker's worst lateness) while
100,000 completions that arrived at once are delivered, next to 100,000 plain asyncio futures
resolved from a thread with ``call_soon_threadsafe``.

Large batches are measured for what they cost other threads: the longest a thread that wakes
every 1 ms is late while ``greet_many`` (and ``Greeter.greet_many``) of 1,000,000 names runs.

``--soak`` runs 10 million mixed calls of ``workload.py`` instead, its RSS sampled and bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import importlib.util
import os
import platform
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
import timeit
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import cffi
import workload  # beside this file: the one workload driver, also under valgrind

import greeter

FLOOR_SOURCE = Path(__file__).with_name("floor.c")
NAME = "World"
# --soak: workload.py's passes, each part repeated this often (about 130,000 calls a pass).
SOAK_SIZE = 2_000
SOAK_MAX_GROWTH_MIB = 16.0
MANY = 1_000
ASYNC_CONCURRENCY = 10_000


# --- the floor extension ------------------------------------------------------------------------


class BenchSetupError(Exception):
    """The benchmark cannot run here (no C compiler, no Python headers)."""


def build_floor(workdir: Path) -> ModuleType:
    """Compiles floor.c against Python's headers and greeter's library, and imports it."""
    source = FLOOR_SOURCE
    include = sysconfig.get_paths()["include"]
    if not (Path(include) / "Python.h").exists():
        raise BenchSetupError(f"Python.h not found in {include}: install the Python headers")
    cc = (os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc").split()
    if shutil.which(cc[0]) is None:
        raise BenchSetupError(f"the C compiler {cc[0]!r} was not found: install one (gcc)")
    libdir = greeter.library_path().parent
    ext = sysconfig.get_config_var("EXT_SUFFIX") or ".so"
    target = workdir / f"_greeter_bench_floor{ext}"
    src = workdir / FLOOR_SOURCE.name
    src.write_bytes(source.read_bytes())
    cmd = [
        *cc,
        "-O2",
        "-shared",
        "-fPIC",
        f"-I{include}",
        f"-I{greeter.include_dir()}",
        str(src),
        "-o",
        str(target),
        f"-L{libdir}",
        "-l:libgreeter.so",
        f"-Wl,-rpath,{libdir}",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BenchSetupError(
            f"compiling the floor extension failed:\n{' '.join(cmd)}\n{done.stderr}"
        )
    spec = importlib.util.spec_from_file_location("_greeter_bench_floor", target)
    if spec is None or spec.loader is None:
        raise BenchSetupError(f"cannot import {target}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- the cases ----------------------------------------------------------------------------------


@dataclass
class Case:
    """One way of doing one operation: a statement timed in a loop."""

    group: str
    label: str
    stmt: str
    per: int = 1  # operations per statement (greet_many: names per batch)
    role: str = ""  # "floor", "ctypes", "raw" or "" (the ratio references of its group)
    loops: int = 0
    values: list[float] = field(default_factory=list)  # seconds per operation, per round

    @property
    def median_ns(self) -> float:
        return statistics.median(self.values) * 1e9

    @property
    def spread_pct(self) -> float:
        """Half the interquartile range, as a percentage of the median."""
        if len(self.values) < 4:
            return 0.0
        q = statistics.quantiles(self.values, n=4)
        return (q[2] - q[0]) / 2 / statistics.median(self.values) * 100


GROUP_CALL = "a bare call: greeter_live_strings()"
GROUP_ADD = "add_numbers(3, 5)"
GROUP_GREET = 'greet("World")'
GROUP_MANY = f"greet_many({MANY:,} names), per name"


def _namespace(floor: ModuleType) -> dict[str, Any]:
    """Everything the timed statements use, bound the way each approach is used in practice."""
    from greeter._greeter_cffi import ffi as api_ffi  # the binding greeter itself uses
    from greeter._greeter_cffi import lib as api_lib
    from greeter._greeter_cffi_short import lib as short_lib  # the same exports, GIL kept

    path = str(greeter.library_path())
    # ctypes, as the usual tutorial uses it, with argtypes and restype set (ctypes' default
    # int restype truncates the 64-bit pointer).
    cdll = ctypes.CDLL(path)
    cdll.add_numbers.argtypes = [ctypes.c_int, ctypes.c_int]
    cdll.add_numbers.restype = ctypes.c_int
    cdll.greet.argtypes = [ctypes.c_char_p]
    cdll.greet.restype = ctypes.c_void_p
    cdll.free_string.argtypes = [ctypes.c_void_p]
    cdll.free_string.restype = None
    cdll.greeter_live_strings.argtypes = []
    cdll.greeter_live_strings.restype = ctypes.c_int64
    # cffi ABI mode on the same library.
    abi_ffi = cffi.FFI()
    abi_ffi.cdef("int add_numbers(int a, int b); char *greet(const char *name);")
    abi_ffi.cdef("void free_string(char *ptr); int64_t greeter_live_strings(void);")
    abi_lib = abi_ffi.dlopen(path)
    return {
        "name": NAME,
        "names": [f"n{i:04d}" for i in range(MANY)],
        "f_add": floor.add,
        "f_greet": floor.greet,
        "f_rust_add": floor.rust_add,
        "f_rust_greet": floor.rust_greet,
        "f_rust_live": floor.rust_live,
        "raw_live": api_lib.greeter_live_strings,
        "abi_live": abi_lib.greeter_live_strings,
        "ct_live": cdll.greeter_live_strings,
        "passthrough": _passthrough(api_lib.greeter_add_numbers),
        "add_numbers": greeter.add_numbers,
        "greet": greeter.greet,
        "greeting": greeter.greeting,
        "recipe_greet": recipe_shaped_function(),
        "greet_many": greeter.greet_many,
        "g": greeter.Greeter("Hello, {name}!"),  # the default template, as an object
        "lib": api_lib,
        "ffi": api_ffi,
        "raw_add": api_lib.greeter_add_numbers,
        "raw_into": api_lib.greeter_greet_into,
        "short_add": short_lib.greeter_add_numbers,
        "short_into": short_lib.greeter_greet_into,
        "raw_tutorial_greet": api_lib.greet,
        "raw_free": api_lib.free_string,
        "unpack": api_ffi.unpack,
        "string": api_ffi.string,
        "buf": api_ffi.new("char[]", 256),
        "abi_add": abi_lib.add_numbers,
        "abi_greet": abi_lib.greet,
        "abi_free": abi_lib.free_string,
        "abi_string": abi_ffi.string,
        "ct_add": cdll.add_numbers,
        "ct_greet": cdll.greet,
        "ct_free": cdll.free_string,
        "c_char_p": ctypes.c_char_p,
    }


WITH_GREETING = "with greeter.greeting(name) as s: s.value"
RECIPE_GREET = "a function added by the recipe (generic text helper)"


def recipe_shaped_function() -> Callable[[str], str]:
    """A function written as the README's recipe has users write theirs (step 3 of "Adding a
    function", examples/add-a-function/shout.patch): the generic text helper around a text
    export. The export is greeter_greet_into (the recipe's map_text_into shape, a short call as
    shout's is), so the work is greet's and the row shows what the path of a user's own function
    costs beside the hand-tuned ``greet``."""
    from greeter._greeter_cffi import lib as api_lib
    from greeter._strings import text_function  # what the recipe's text functions are made by

    return text_function(api_lib.greeter_greet_into, "greet, made as the recipe makes one")


# The raw calls through the short-call module, which keeps the GIL (the "raw" rows release it).
SHORT_ADD = "cffi API lib.f via module global, GIL kept"
SHORT_INTO = "cffi API raw greeter_greet_into, 1 buffer, GIL kept"


def _passthrough(raw: Callable[[int, int], int]) -> Callable[[int, int], int]:
    """A Python wrapper that only forwards: what any wrapper costs, before checking anything."""

    def add(a: int, b: int) -> int:
        return raw(a, b)

    return add


def _cases() -> list[Case]:
    return [
        Case(GROUP_CALL, "C API extension (floor)", "f_rust_live()", role="floor"),
        Case(GROUP_CALL, "cffi API lib.f via module global", "raw_live()", role="raw"),
        Case(GROUP_CALL, "cffi ABI mode (ffi.dlopen)", "abi_live()"),
        Case(GROUP_CALL, "ctypes, restype set", "ct_live()", role="ctypes"),
        Case(GROUP_ADD, "C API extension, pure C (floor)", "f_add(3, 5)", role="floor"),
        Case(GROUP_ADD, "C API extension calling Rust", "f_rust_add(3, 5)"),
        Case(GROUP_ADD, "greeter.add_numbers", "add_numbers(3, 5)"),
        Case(GROUP_ADD, "cffi API lib.f via module global (raw)", "raw_add(3, 5)", role="raw"),
        Case(GROUP_ADD, SHORT_ADD, "short_add(3, 5)"),
        Case(GROUP_ADD, "Python wrapper forwarding raw, no check", "passthrough(3, 5)"),
        Case(GROUP_ADD, "cffi API lib.f looked up each call", "lib.greeter_add_numbers(3, 5)"),
        Case(GROUP_ADD, "cffi ABI mode (ffi.dlopen)", "abi_add(3, 5)"),
        Case(GROUP_ADD, "ctypes, argtypes/restype set", "ct_add(3, 5)", role="ctypes"),
        Case(GROUP_GREET, "C API extension, pure C (floor)", "f_greet(name)", role="floor"),
        Case(GROUP_GREET, "C API extension calling Rust", "f_rust_greet(name)"),
        Case(GROUP_GREET, "greeter.greet", "greet(name)"),
        Case(GROUP_GREET, 'greeter.Greeter("Hello, {name}!").greet', "g.greet(name)"),
        Case(
            GROUP_GREET,
            "greeter.greeting() -> .value -> close()",
            "s = greeting(name); s.value; s.close()",
        ),
        Case(GROUP_GREET, WITH_GREETING, "with greeting(name) as s:\n    s.value"),
        Case(GROUP_GREET, RECIPE_GREET, "recipe_greet(name)"),
        Case(
            GROUP_GREET,
            "cffi API raw greeter_greet_into, 1 buffer",
            "d = name.encode(); unpack(buf, raw_into(d, len(d), buf, 256)).decode()",
            role="raw",
        ),
        Case(
            GROUP_GREET,
            SHORT_INTO,
            "d = name.encode(); unpack(buf, short_into(d, len(d), buf, 256)).decode()",
        ),
        Case(
            GROUP_GREET,
            "cffi API naive (encode, call, string, free)",
            "p = raw_tutorial_greet(name.encode()); string(p).decode(); raw_free(p)",
        ),
        Case(
            GROUP_GREET,
            "cffi ABI mode naive",
            "p = abi_greet(name.encode()); abi_string(p).decode(); abi_free(p)",
        ),
        Case(
            GROUP_GREET,
            "ctypes, argtypes/restype set",
            "p = ct_greet(c_char_p(name.encode())); c_char_p(p).value.decode(); ct_free(p)",
            role="ctypes",
        ),
        Case(GROUP_MANY, "greeter.greet_many", "greet_many(names)", per=MANY),
        Case(GROUP_MANY, "greeter.Greeter.greet_many", "g.greet_many(names)", per=MANY),
        Case(
            GROUP_MANY, "[greeter.greet(n) for n in names]", "[greet(n) for n in names]", per=MANY
        ),
        Case(
            GROUP_MANY,
            "[C API floor greet(n) for n in names]",
            "[f_greet(n) for n in names]",
            per=MANY,
        ),
    ]


def _calibrate(timer: timeit.Timer, slice_s: float) -> int:
    loops = 1
    while True:
        elapsed = timer.timeit(loops)
        if elapsed >= slice_s / 4 or loops >= 1 << 30:
            return max(1, int(loops * slice_s / max(elapsed, 1e-9)))
        loops *= 4


def measure(cases: list[Case], ns: dict[str, Any], rounds: int, slice_s: float) -> None:
    """Times every case, interleaved: each round runs every case once, in a rotating order."""
    timers = [timeit.Timer(c.stmt, globals=ns) for c in cases]
    for case, timer in zip(cases, timers, strict=True):
        timer.timeit(max(1, WARMUP_CALLS // case.per))  # warm up (and check the statement runs)
        case.loops = _calibrate(timer, slice_s)
    for r in range(rounds):
        order = list(range(len(cases)))
        shift = r % len(order)
        for i in order[shift:] + order[:shift]:
            case = cases[i]
            elapsed = timers[i].timeit(case.loops)
            case.values.append(elapsed / case.loops / case.per)


# --- async throughput ---------------------------------------------------------------------------


@dataclass
class Throughput:
    label: str
    rates: list[float] = field(default_factory=list)  # completions per second
    cpu_us: list[float] = field(default_factory=list)  # process CPU µs per completion

    @property
    def rate(self) -> float:
        return statistics.median(self.rates)

    @property
    def cpu(self) -> float:
        return statistics.median(self.cpu_us)


async def _gather_greet_async(n: int) -> list[str]:
    return await asyncio.gather(*(greeter.greet_async(f"n{i}") for i in range(n)))


async def _gather_to_thread(n: int) -> list[str]:
    return await asyncio.gather(*(asyncio.to_thread(greeter.greet, f"n{i}") for i in range(n)))


def _one_throughput(make: Callable[[int], Any], n: int) -> tuple[float, float]:
    async def main() -> tuple[float, float]:
        await make(64)  # warm: the pool, the executor and the loop's completion queue
        wall, cpu = time.perf_counter(), time.process_time()
        results = await make(n)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        if len(results) != n or results[-1] not in (f"Async Hello, n{n - 1}!", f"Hello, n{n - 1}!"):
            raise AssertionError("wrong results from the async benchmark")
        return n / wall, cpu / n * 1e6

    return asyncio.run(main())


def measure_async(repeats: int, n: int = ASYNC_CONCURRENCY) -> tuple[Throughput, Throughput]:
    ours = Throughput("greeter.greet_async")
    theirs = Throughput("asyncio.to_thread(greeter.greet)")
    for _ in range(repeats):
        for t, make in ((ours, _gather_greet_async), (theirs, _gather_to_thread)):
            rate, cpu = _one_throughput(make, n)
            t.rates.append(rate)
            t.cpu_us.append(cpu)
    return ours, theirs


STALL_COMPLETIONS = 100_000
STALL_TICK_S = 0.001
# How long the loop is kept busy while the completions pile up (the workers finish 100,000
# greetings in well under this on the machines we run on).
STALL_SETTLE_S = 0.5


@dataclass
class Stall:
    label: str
    worst_ms: list[float] = field(default_factory=list)

    @property
    def median_ms(self) -> float:
        return statistics.median(self.worst_ms)


async def _worst_tick_lateness(
    tasks: Sequence[asyncio.Future[str]], pile_up: Callable[[], None]
) -> float:
    """Seconds: the longest a ``STALL_TICK_S`` ticker is late while ``tasks`` finish, after
    ``pile_up`` kept the loop busy until every result was waiting to be delivered."""
    all_done = asyncio.gather(*tasks)  # its own setup is not part of the stall
    pile_up()
    worst, finished = 0.0, False
    last = time.perf_counter()

    async def ticker() -> None:
        nonlocal worst, last
        while not finished:
            await asyncio.sleep(STALL_TICK_S)
            now = time.perf_counter()
            worst = max(worst, now - last - STALL_TICK_S)
            last = now

    ticking = asyncio.ensure_future(ticker())
    results = await all_done
    finished = True
    await ticking
    if len(results) != len(tasks) or results[-1] != f"Async Hello, n{len(tasks) - 1}!":
        raise AssertionError("wrong results from the stall benchmark")
    return worst


async def _stall_greet_async(n: int) -> float:
    tasks = [asyncio.ensure_future(greeter.greet_async(f"n{i}")) for i in range(n)]
    await asyncio.sleep(0)  # every task has run up to its await
    await asyncio.sleep(0)  # and their batch has been submitted
    return await _worst_tick_lateness(tasks, lambda: time.sleep(STALL_SETTLE_S))


async def _stall_threadsafe(n: int) -> float:
    loop = asyncio.get_running_loop()
    futures: list[asyncio.Future[str]] = [loop.create_future() for _ in range(n)]

    async def wait(future: asyncio.Future[str]) -> str:
        return await future

    tasks = [asyncio.ensure_future(wait(f)) for f in futures]
    await asyncio.sleep(0)

    def resolve() -> None:
        for i, future in enumerate(futures):
            loop.call_soon_threadsafe(future.set_result, f"Async Hello, n{i}!")

    def pile_up() -> None:
        resolver = threading.Thread(target=resolve)
        resolver.start()
        resolver.join()

    return await _worst_tick_lateness(tasks, pile_up)


def measure_stalls(repeats: int, n: int = STALL_COMPLETIONS) -> tuple[Stall, Stall]:
    ours = Stall("greeter.greet_async")
    theirs = Stall("futures resolved from a thread")
    for _ in range(repeats):
        for stall, run in ((ours, _stall_greet_async), (theirs, _stall_threadsafe)):
            stall.worst_ms.append(asyncio.run(run(n)) * 1000)
    return ours, theirs


BATCH_NAMES = 1_000_000


@dataclass
class BatchStall:
    """How long other Python threads wait while one thread runs a large batch."""

    label: str
    worst_ms: list[float] = field(default_factory=list)
    batch_ms: list[float] = field(default_factory=list)


def _ticker_stall(batch: Callable[[], object]) -> tuple[float, float]:
    """Seconds: the longest a thread that wakes every ``STALL_TICK_S`` was late while
    ``batch`` ran on this one, and how long ``batch`` took."""
    ticking, stop = threading.Event(), threading.Event()
    worst = 0.0

    def ticker() -> None:
        nonlocal worst
        last = time.perf_counter()
        ticking.set()
        while not stop.is_set():
            time.sleep(STALL_TICK_S)
            now = time.perf_counter()
            worst = max(worst, now - last - STALL_TICK_S)
            last = now

    thread = threading.Thread(target=ticker)
    thread.start()
    ticking.wait()
    time.sleep(10 * STALL_TICK_S)  # the ticker is in its loop
    worst = 0.0
    started = time.perf_counter()
    batch()
    took = time.perf_counter() - started
    stop.set()
    thread.join()
    return worst, took


def measure_batch_stalls(repeats: int, n: int = BATCH_NAMES) -> list[BatchStall]:
    """greet_many and Greeter.greet_many of ``n`` short names, a ticker thread beside them."""
    names = [f"n{i}" for i in range(n)]
    template = greeter.Greeter("Hello, {name}!")
    batches: list[tuple[BatchStall, Callable[[], object]]] = [
        (BatchStall("greeter.greet_many"), lambda: greeter.greet_many(names)),
        (BatchStall("greeter.Greeter.greet_many"), lambda: template.greet_many(names)),
    ]
    for _ in range(repeats):
        for stall, batch in batches:
            worst, took = _ticker_stall(batch)
            stall.worst_ms.append(worst * 1000)
            stall.batch_ms.append(took * 1000)
    template.close()
    return [stall for stall, _ in batches]


# --- report -------------------------------------------------------------------------------------


# Calls of each case before it is calibrated and timed. PyPy's JIT compiles a loop after about a
# thousand iterations and keeps optimising it after that: a million calls reach its steady state.
WARMUP_CALLS = 1_000_000 if sys.implementation.name == "pypy" else 1_000


def machine_facts() -> list[str]:
    model = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return [
        f"{platform.python_implementation()} {platform.python_version()} "
        f"({sys.implementation.cache_tag}), cffi {cffi.__version__}, greeter {greeter.__version__}",
        f"warm-up: {WARMUP_CALLS:,} calls of each case before it is timed",
        f"{platform.system()} {platform.release()} {platform.machine()}, "
        f"{os.cpu_count()} CPUs ({model}), load average {load}",
    ]


def _find(cases: list[Case], group: str, role: str) -> Case:
    return next(c for c in cases if c.group == group and c.role == role)


def _label(case: Case, text: str) -> str:
    return f"{text} ({case.label})"


def format_table(cases: list[Case], rounds: int, slice_s: float) -> list[str]:
    lines = [
        f"median ns per call over {rounds} interleaved rounds of ~{slice_s * 1000:.0f} ms each; "
        "vs floor / vs ctypes = this / that (lower is faster); spread = half the IQR",
    ]
    floor_greet = _find(cases, GROUP_GREET, "floor")
    ctypes_greet = _find(cases, GROUP_GREET, "ctypes")
    width = max(len(c.label) for c in cases) + 2
    for group in dict.fromkeys(c.group for c in cases):
        rows = [c for c in cases if c.group == group]
        floor = next((c for c in rows if c.role == "floor"), floor_greet)
        ref_ctypes = next((c for c in rows if c.role == "ctypes"), ctypes_greet)
        lines.append("")
        note = "" if group != GROUP_MANY else '  (references: the greet("World") floor and ctypes)'
        lines.append(f"{group}{note}")
        lines.append(
            f"  {'':{width}}{'ns/call':>9}  {'spread':>6}  {'vs floor':>8}  {'vs ctypes':>9}"
        )
        for c in rows:
            lines.append(
                f"  {c.label:{width}}{c.median_ns:9.1f}  {c.spread_pct:5.1f}%  "
                f"{c.median_ns / floor.median_ns:7.2f}x  {c.median_ns / ref_ctypes.median_ns:8.2f}x"
            )
    return lines


def format_async(ours: Throughput, theirs: Throughput, n: int) -> list[str]:
    lines = [f"greet_async: {n:,} concurrent awaits (median of {len(ours.rates)} runs)"]
    for t in (ours, theirs):
        lines.append(f"  {t.label:34}{t.rate:12,.0f} completions/s  {t.cpu:8.2f} CPU us/completion")
    return lines


def format_stalls(ours: Stall, theirs: Stall, n: int) -> list[str]:
    lines = [
        f"longest event-loop stall while {n:,} completions that arrived at once are delivered "
        f"(worst lateness of a {STALL_TICK_S * 1000:.0f} ms ticker, median of "
        f"{len(ours.worst_ms)} runs)"
    ]
    for s in (ours, theirs):
        lines.append(f"  {s.label:34}{s.median_ms:10.1f} ms")
    return lines


def format_batch_stalls(stalls: list[BatchStall], n: int) -> list[str]:
    lines = [
        f"longest stall of another Python thread during a batch of {n:,} names (worst lateness "
        f"of a {STALL_TICK_S * 1000:.0f} ms ticker thread, median of {len(stalls[0].worst_ms)} "
        "runs; the batch's own time beside it)"
    ]
    for s in stalls:
        lines.append(
            f"  {s.label:34}{statistics.median(s.worst_ms):10.1f} ms"
            f"  (batch {statistics.median(s.batch_ms):.0f} ms)"
        )
    return lines


@dataclass
class Ratio:
    """A paired ratio of two measurements of this run: ``value`` times ``text``."""

    text: str
    value: float

    def line(self) -> str:
        return f"  {self.text}: {self.value:.2f}x"


def _paired(a: list[float], b: list[float], scale: float = 1.0) -> float:
    """The median over rounds of a[r] / b[r]: both were timed in the same round, moments apart,
    so a burst of load on the machine moves both and cancels out of the ratio."""
    return statistics.median(x / y * scale for x, y in zip(a, b, strict=True))


def _paired_over_sum(a: list[float], b: list[float], c: list[float]) -> float:
    """The median over rounds of a[r] / (b[r] + c[r]), all three timed in the same round."""
    return statistics.median(x / (y + z) for x, y, z in zip(a, b, c, strict=True))


def ratios(cases: list[Case], ours: Throughput, theirs: Throughput) -> list[Ratio]:
    """greeter's calls against the floor, the raw binding and ctypes (below 1: greeter faster,
    except for speedups, where above 1 is greeter faster)."""

    def get(group: str, label: str) -> list[float]:
        return next(c.values for c in cases if c.group == group and c.label == label)

    add = get(GROUP_ADD, "greeter.add_numbers")
    raw_add = _find(cases, GROUP_ADD, "raw").values
    ct_add = _find(cases, GROUP_ADD, "ctypes").values
    greet = get(GROUP_GREET, "greeter.greet")
    greeting = get(GROUP_GREET, "greeter.greeting() -> .value -> close()")
    with_greeting = get(GROUP_GREET, WITH_GREETING)
    recipe = get(GROUP_GREET, RECIPE_GREET)
    floor_greet = _find(cases, GROUP_GREET, "floor").values
    ct_greet = _find(cases, GROUP_GREET, "ctypes").values
    many = get(GROUP_MANY, "greeter.greet_many")
    object_greet = get(GROUP_GREET, 'greeter.Greeter("Hello, {name}!").greet')
    object_many = get(GROUP_MANY, "greeter.Greeter.greet_many")
    bare_call = _find(cases, GROUP_CALL, "raw").values
    return [
        Ratio("add_numbers / raw cffi greeter_add_numbers (time)", _paired(add, raw_add)),
        Ratio("greet / C API floor greet (time)", _paired(greet, floor_greet)),
        Ratio(
            f"greet_many per name ({MANY:,}) / C API floor greet (time)",
            _paired(many, floor_greet),
        ),
        Ratio("speedup over ctypes: add_numbers", _paired(ct_add, add)),
        Ratio("speedup over ctypes: greet", _paired(ct_greet, greet)),
        Ratio(
            "speedup over ctypes greet: greeting() + .value + close()", _paired(ct_greet, greeting)
        ),
        Ratio("speedup over ctypes greet: greet_many, per name", _paired(ct_greet, many)),
        Ratio(
            "greet_async / asyncio.to_thread(greet), completions/s",
            _paired(ours.rates, theirs.rates),
        ),
        Ratio("Greeter.greet / greet (time)", _paired(object_greet, greet)),
        Ratio(
            "Greeter.greet / (greet + one bare cffi call) (time; below 1: less than a call more)",
            _paired_over_sum(object_greet, greet, bare_call),
        ),
        Ratio("Greeter.greet_many / greet_many, per name (time)", _paired(object_many, many)),
        Ratio(f"{WITH_GREETING} / greet (time)", _paired(with_greeting, greet)),
        Ratio(f"{RECIPE_GREET} / greet (time)", _paired(recipe, greet)),
    ]


def bounds(cases: list[Case]) -> list[str]:
    """Paired ratios of this run that show what an FFI call itself costs here."""

    def get(group: str, label: str) -> list[float]:
        return next(c.values for c in cases if c.group == group and c.label == label)

    raw_add = _find(cases, GROUP_ADD, "raw").values
    floor_greet = _find(cases, GROUP_GREET, "floor").values
    ct_greet = _find(cases, GROUP_GREET, "ctypes").values
    rows = [
        (
            "bare cffi API call / bare C API call (greeter_live_strings)",
            _paired(
                _find(cases, GROUP_CALL, "raw").values, _find(cases, GROUP_CALL, "floor").values
            ),
        ),
        (
            "raw cffi add, GIL kept / GIL released",
            _paired(get(GROUP_ADD, SHORT_ADD), raw_add),
        ),
        (
            "raw cffi greeter_greet_into, GIL kept / GIL released",
            _paired(
                get(GROUP_GREET, SHORT_INTO),
                get(GROUP_GREET, "cffi API raw greeter_greet_into, 1 buffer"),
            ),
        ),
        (
            "forwarding Python wrapper, no check / raw cffi add",
            _paired(get(GROUP_ADD, "Python wrapper forwarding raw, no check"), raw_add),
        ),
        (
            "raw cffi greeter_greet_into, no wrapper / C API floor greet",
            _paired(get(GROUP_GREET, "cffi API raw greeter_greet_into, 1 buffer"), floor_greet),
        ),
        (
            "C API greeter_greet + greeter_string_free / C API floor greet",
            _paired(get(GROUP_GREET, "C API extension calling Rust"), floor_greet),
        ),
        (
            "ctypes greet / cffi naive greet (two FFI calls each)",
            _paired(ct_greet, get(GROUP_GREET, "cffi API naive (encode, call, string, free)")),
        ),
    ]
    return [f"  {text}: {value:.2f}x" for text, value in rows]


def plot(
    cases: list[Case], ours: Throughput, theirs: Throughput, path: Path, facts: list[str]
) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise BenchSetupError("--plot needs matplotlib: pip install 'greeter-cffi[bench]'") from exc
    groups = list(dict.fromkeys(c.group for c in cases))
    fig, axes = plt.subplots(
        len(groups) + 1,
        1,
        figsize=(10, 2.2 + 0.42 * len(cases) + 1.2),
        gridspec_kw={"height_ratios": [*(sum(c.group == g for c in cases) for g in groups), 2]},
    )
    for ax, group in zip(axes, groups, strict=False):
        rows = [c for c in cases if c.group == group]
        values = [c.median_ns for c in rows]
        colors = [
            "#d1495b"
            if c.label.startswith("greeter")
            else "#8d99ae"
            if c.role != "floor"
            else "#2e4057"
            for c in rows
        ]
        bars = ax.barh([c.label for c in rows], values, color=colors)
        ax.invert_yaxis()
        ax.set_title(group, loc="left", fontsize=10)
        ax.bar_label(bars, labels=[f"{v:.0f} ns" for v in values], padding=3, fontsize=8)
        ax.set_xlim(0, max(values) * 1.18)
        ax.tick_params(axis="y", labelsize=8)
        ax.tick_params(axis="x", labelsize=8)
    ax = axes[-1]
    labels = [ours.label, theirs.label]
    rates = [ours.rate / 1000, theirs.rate / 1000]
    bars = ax.barh(labels, rates, color=["#d1495b", "#8d99ae"])
    ax.invert_yaxis()
    ax.set_title(
        f"{ASYNC_CONCURRENCY:,} concurrent awaits: thousand completions/s (higher is better)",
        loc="left",
        fontsize=10,
    )
    ax.bar_label(bars, labels=[f"{r:,.0f}k/s" for r in rates], padding=3, fontsize=8)
    ax.set_xlim(0, max(rates) * 1.18)
    ax.tick_params(axis="y", labelsize=8)
    ax.tick_params(axis="x", labelsize=8)
    fig.suptitle("greeter: ns per call, lower is better\n" + "; ".join(facts), fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def dump_json(cases: list[Case], path: Path) -> None:
    try:
        import pyperf
    except ImportError as exc:
        raise BenchSetupError("--json needs pyperf: pip install 'greeter-cffi[bench]'") from exc
    benchmarks = []
    for c in cases:
        meta = {
            "name": f"{c.group}: {c.label}",
            "loops": c.loops,
            "inner_loops": c.per,
            "unit": "second",
        }
        run = pyperf.Run(c.values, warmups=None, metadata=meta, collect_metadata=False)
        benchmarks.append(pyperf.Benchmark([run]))
    pyperf.BenchmarkSuite(benchmarks).dump(str(path), replace=True)


# --- entry point --------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true", help="a rough run in under 30 seconds")
    parser.add_argument("--plot", metavar="FILE.png", type=Path, help="also draw a bar chart")
    parser.add_argument("--json", metavar="FILE", type=Path, help="also write a pyperf suite")
    parser.add_argument(
        "--rounds", type=workload.positive, help="interleaved rounds (default 100, quick 10)"
    )
    parser.add_argument(
        "--soak",
        action="store_true",
        help="instead: 10 million mixed calls of benchmarks/workload.py (1 million with --quick), "
        "RSS sampled and bounded",
    )
    parser.add_argument("--calls", type=workload.positive, help="calls for --soak (whole passes)")


@contextlib.contextmanager
def _workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="greeter-bench-") as d:
        yield Path(d)


def run(args: argparse.Namespace, prog: str) -> int:
    def out(line: str = "") -> None:
        print(line, flush=True)

    facts = machine_facts()
    if args.soak:
        total = args.calls or (1_000_000 if args.quick else 10_000_000)
        for line in facts:
            out(line)
        return workload.soak(total, SOAK_SIZE, 1, SOAK_MAX_GROWTH_MIB, out)
    for path, module in ((args.plot, "matplotlib"), (args.json, "pyperf")):
        if path is None:
            continue
        if not path.resolve().parent.is_dir():
            print(f"{prog}: no directory for {path}", file=sys.stderr)
            return 2
        if importlib.util.find_spec(module) is None:
            print(
                f"{prog}: {module} is needed for this option: pip install 'greeter-cffi[bench]'",
                file=sys.stderr,
            )
            return 2
    rounds = args.rounds or (10 if args.quick else 100)
    slice_s = 0.01 if args.quick else 0.02
    async_repeats = 2 if args.quick else 7
    out("greeter benchmark")
    for line in facts:
        out(f"  {line}")
    cases = _cases()
    try:
        with _workdir() as workdir:
            measure(cases, _namespace(build_floor(workdir)), rounds, slice_s)
    except BenchSetupError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 2
    ours, theirs = measure_async(async_repeats)
    stalls = measure_stalls(1 if args.quick else 3)
    batch_stalls = measure_batch_stalls(1 if args.quick else 3)
    for line in format_table(cases, rounds, slice_s):
        out(line)
    out()
    for line in format_async(ours, theirs, ASYNC_CONCURRENCY):
        out(line)
    for line in format_stalls(*stalls, STALL_COMPLETIONS):
        out(line)
    for line in format_batch_stalls(batch_stalls, BATCH_NAMES):
        out(line)
    out()
    out("ratios: each is the median of per-round ratios (paired: both timed in the same round)")
    for r in ratios(cases, ours, theirs):
        out(r.line())
    out("what a call costs here, before greeter's own work (paired ratios)")
    for line in bounds(cases):
        out(line)
    out(f"  load average at the end: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    try:
        if args.plot is not None:
            plot(cases, ours, theirs, args.plot, facts)
            out(f"chart written to {args.plot}")
        if args.json is not None:
            dump_json(cases, args.json)
            out(f"pyperf suite written to {args.json}")
    except (BenchSetupError, OSError) as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 2
    return 0


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Time greeter against raw cffi, cffi ABI mode, ctypes and a CPython C API "
        "floor compiled now (needs a C compiler); print the times, their paired ratios and "
        "what a bare FFI call costs on this machine. --plot and --json need the bench extra: "
        "pip install 'greeter-cffi[bench]'.",
    )
    add_arguments(parser)
    args = parser.parse_args(argv)
    return run(args, parser.prog)


if __name__ == "__main__":
    sys.exit(main())
