"""greeter.Greeter: a Rust object owned by Python, shared by threads and async calls, closed
safely while calls are in flight.

The template rules, as this file's reference model states them: read left to right, ``{{`` is
a literal ``{``, ``}}`` a literal ``}``, ``{name}`` the placeholder; any other ``{`` or ``}``
and any NUL is refused at its character offset (a ``str`` index); a template with no
``{name}`` is refused at its end; over 64 KiB of UTF-8 is refused at the character holding
byte 65,536. A valid template renders exactly as ``template.format(name=name)``.

Fork: a Greeter inherited by a fork child works there (it is plain memory with no lock; its
async calls use the child's fresh pool), which ``test_a_fork_child_can_use_a_live_greeter``
checks with the parent idle and with other threads inside sync and async calls on it.
"""

from __future__ import annotations

import asyncio
import copy
import gc
import pickle
import random
import re
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import greeter
from greeter._greeter_cffi import lib

PROPS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

NAMES = ["Ann", "", "世界", "🦀🌍", "e\u0301", "한국어", "{name}", "}{", "x" * 300]
MAX_BYTES = 65_536
CLOSED = r"^closed Greeter$"


def settle(objects: int, strings: int) -> tuple[int, int]:
    """``(live_objects(), live_strings())`` once they are back to the given counts, or after
    10 s: a cancelled task's Rust job may still be finishing on a worker when its awaiting
    task is already gone (it then frees its result and its reference)."""
    deadline = time.monotonic() + 10
    while True:
        gc.collect()
        now = greeter.live_objects(), greeter.live_strings()
        if now == (objects, strings) or time.monotonic() > deadline:
            return now
        time.sleep(0.005)


@pytest.fixture(autouse=True)
def no_leaks() -> Iterator[None]:
    """Every test ends with every Greeter freed and every string Rust handed out returned."""
    gc.collect()
    before = greeter.live_objects(), greeter.live_strings()
    yield
    assert settle(*before) == before


def offset_of(error: pytest.ExceptionInfo[Any]) -> int:
    found = re.match(r"invalid template at character offset (\d+): ", str(error.value))
    assert found, str(error.value)
    return int(found.group(1))


# --- what a user gets ---------------------------------------------------------------------


def test_the_documented_session() -> None:
    gc.collect()
    # Relative: an object an earlier test dropped unclosed is freed when collected, which on
    # PyPy may come later than this test's start.
    before = greeter.live_objects()
    g = greeter.Greeter("Bonjour, {name} !")
    assert g.greet("Ann") == "Bonjour, Ann !"
    assert g.greet_many(["Ann", "Bo"]) == ["Bonjour, Ann !", "Bonjour, Bo !"]
    assert asyncio.run(g.greet_async("Ann")) == "Bonjour, Ann !"
    assert g.template == "Bonjour, {name} !"
    with greeter.Greeter("Hi {name}, {name}!") as h:
        assert h.greet("Bo") == "Hi Bo, Bo!"
    assert h.closed
    assert not g.closed
    g.close()
    gc.collect()
    assert greeter.live_objects() == before


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize(
    "template",
    [
        "Bonjour, {name} !",
        "{name}",
        "你好{name}世界",
        "🦀{name}🦀 {{literal}} }}{{",
        "e\u0301{name}e\u0301",
        "{name}{name}{name}",
        "{{{name}}}",
    ],
)
def test_exact_results_for_every_kind_of_text(template: str, name: str) -> None:
    want = template.format(name=name)
    with greeter.Greeter(template) as g:
        assert g.template == template
        assert g.greet(name) == want
        assert g.greet_many([name, name + "2"]) == [want, template.format(name=name + "2")]
        assert asyncio.run(g.greet_async(name)) == want


def test_the_module_functions_are_the_default_templates() -> None:
    with (
        greeter.Greeter("Hello, {name}!") as sync,
        greeter.Greeter("Async Hello, {name}!") as async_,
    ):
        for name in NAMES:
            assert sync.greet(name) == greeter.greet(name)
            assert async_.greet(name) == asyncio.run(greeter.greet_async(name))
        assert sync.greet_many(NAMES) == greeter.greet_many(NAMES)


def test_greet_many_takes_any_iterable_in_one_call() -> None:
    with greeter.Greeter("<{name}>") as g:
        assert g.greet_many([]) == []
        assert g.greet_many(()) == []
        assert g.greet_many([""]) == ["<>"]
        assert g.greet_many(iter(["a", "b"])) == ["<a>", "<b>"]
        assert g.greet_many(f"n{i}" for i in range(3)) == ["<n0>", "<n1>", "<n2>"]
        names = [f"name{i}-{'é' * (i % 5)}" for i in range(10_000)]
        assert g.greet_many(names) == [f"<{n}>" for n in names]


# --- template rules -------------------------------------------------------------------------

REFUSED = [
    # (template, character offset, what the message says)
    ("Hello!", 6, "no {name} placeholder"),
    ("", 0, "no {name} placeholder"),
    ("{{name}}", 8, "no {name} placeholder"),
    ("Hello, {}!", 7, "unknown placeholder {}"),
    ("世界{name} {0}", 9, "unknown placeholder {0}"),
    ("{name!r}", 0, "unknown placeholder {name!r}"),
    ("{name:>5}", 0, "unknown placeholder {name:>5}"),
    ("{Name}", 0, "unknown placeholder {Name}"),
    ("🦀 {name", 2, "a '{' that opens no placeholder"),
    ("{name} {x{name}", 7, "a '{' that opens no placeholder"),
    ("{name}{", 6, "a '{' that opens no placeholder"),
    ("é{name}}", 7, "a '}' that closes nothing"),
    ("{{name}", 6, "a '}' that closes nothing"),
    ("}{name}", 0, "a '}' that closes nothing"),
    ("{name}ü\0", 7, "a NUL character"),
    ("\0{name}", 0, "a NUL character"),
    ("a}b{c", 1, "a '}' that closes nothing"),  # the first problem found
]


@pytest.mark.parametrize(("template", "offset", "problem"), REFUSED)
def test_refused_templates_name_the_problem_and_its_character_offset(
    template: str, offset: int, problem: str
) -> None:
    with pytest.raises(greeter.InvalidTemplateError) as info:
        greeter.Greeter(template)
    assert offset_of(info) == offset
    assert problem in str(info.value)
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, greeter.GreeterError)
    assert info.value.code == lib.GREETER_ERR_INVALID_TEMPLATE
    if problem.startswith(("a '", "a NUL")):
        assert template[offset] in "{}\0", "the offset is a str index"


def test_braces_are_escaped_by_doubling() -> None:
    with greeter.Greeter("{{{name}}} {{name}} }}{{") as g:
        assert g.greet("x") == "{x} {name} }{"


def test_the_size_limit_is_64_kib_of_utf8() -> None:
    longest = "{name}" + "a" * (MAX_BYTES - 6)
    with greeter.Greeter(longest) as g:
        assert g.greet("Z") == "Z" + "a" * (MAX_BYTES - 6)
    with pytest.raises(greeter.InvalidTemplateError, match="over the 65536-byte limit") as info:
        greeter.Greeter(longest + "b")
    assert offset_of(info) == MAX_BYTES
    # Bytes, not characters: 21,846 three-byte characters pass the limit, and the offset is
    # the character holding byte 65,536.
    wide = "{name}" + "世" * 21_844
    assert len(wide.encode()) == MAX_BYTES + 2
    with pytest.raises(greeter.InvalidTemplateError) as info:
        greeter.Greeter(wide)
    assert offset_of(info) == 6 + (MAX_BYTES - 6) // 3
    with pytest.raises(greeter.InvalidTemplateError, match="over the 65536-byte limit"):
        greeter.Greeter("{name}" * 1_000_000)


@pytest.mark.parametrize("bad", [None, 42, b"{name}", bytearray(b"{name}"), ["{name}"], 3.5])
def test_a_template_that_is_not_str_is_a_type_error(bad: Any) -> None:
    with pytest.raises(TypeError, match=f"template must be str, not {type(bad).__name__}"):
        greeter.Greeter(bad)


@pytest.mark.parametrize("template", ["\ud800{name}", "{name}\udfff", "a\udc80b{name}"])
def test_a_template_with_a_lone_surrogate_is_a_unicode_encode_error(template: str) -> None:
    with pytest.raises(UnicodeEncodeError):
        greeter.Greeter(template)


def test_names_are_checked_as_for_the_module_functions() -> None:
    with greeter.Greeter("<{name}>") as g:
        for bad in [None, 42, b"Ann", ["Ann"]]:
            with pytest.raises(TypeError, match=f"name must be str, not {type(bad).__name__}"):
                g.greet(bad)  # type: ignore[arg-type]
            with pytest.raises(TypeError, match="name must be str"):
                asyncio.run(g.greet_async(bad))  # type: ignore[arg-type]
        with pytest.raises(greeter.InteriorNulError, match="NUL byte at offset 2"):
            g.greet("ab\0c")
        with pytest.raises(greeter.InteriorNulError):
            asyncio.run(g.greet_async("ab\0c"))
        with pytest.raises(UnicodeEncodeError):
            g.greet("a\ud800")
        with pytest.raises(UnicodeEncodeError):
            asyncio.run(g.greet_async("a\ud800"))
        with pytest.raises(TypeError, match="names must be an iterable of str, not str"):
            g.greet_many("Ann")
        with pytest.raises(TypeError, match=r"names\[1\] must be str, not int"):
            g.greet_many(["Ann", 3])  # type: ignore[list-item]
        with pytest.raises(
            greeter.InteriorNulError, match=r"names\[1\] contains a NUL character at offset 1"
        ):
            g.greet_many(["Ann", "B\0o"])
        with pytest.raises(UnicodeEncodeError):
            g.greet_many(["Ann", "\udfff"])
        assert g.greet("still fine") == "<still fine>"


def test_a_greeter_is_immutable() -> None:
    with greeter.Greeter("<{name}>") as g:
        with pytest.raises(AttributeError):
            g.template = "[{name}]"  # type: ignore[misc]
        with pytest.raises(AttributeError):
            g.extra = 1  # type: ignore[attr-defined]
        assert g.template == "<{name}>"
        assert g.greet("a") == "<a>"


def test_copy_and_pickle_make_a_new_greeter_from_the_template() -> None:
    with greeter.Greeter("<{name}>") as g:
        before = greeter.live_objects()

        def pickled(g: greeter.Greeter) -> greeter.Greeter:
            other: greeter.Greeter = pickle.loads(pickle.dumps(g))
            return other

        makers: list[Callable[[greeter.Greeter], greeter.Greeter]] = [
            copy.copy,
            copy.deepcopy,
            pickled,
        ]
        for make in makers:
            other = make(g)
            assert other is not g
            assert other.template == g.template
            assert other.greet("a") == "<a>"
            assert greeter.live_objects() == before + 1
            other.close()
            assert greeter.live_objects() == before
            assert not g.closed
    with pytest.raises(ValueError, match=CLOSED):
        copy.copy(g)


# --- lifetime -------------------------------------------------------------------------------


def test_close_is_idempotent_and_calls_after_it_are_value_errors() -> None:
    g = greeter.Greeter("<{name}>")
    assert greeter.live_objects() >= 1
    assert not g.closed
    g.close()
    assert g.closed
    g.close()
    assert g.closed
    with pytest.raises(ValueError, match=CLOSED):
        g.greet("a")
    with pytest.raises(ValueError, match=CLOSED):
        g.greet_many(["a"])
    with pytest.raises(ValueError, match=CLOSED):
        asyncio.run(g.greet_async("a"))
    with pytest.raises(ValueError, match=CLOSED), g:
        pass
    assert g.template == "<{name}>", "the template stays readable"
    assert "closed" in repr(g)


def test_with_closes_even_on_error() -> None:
    with pytest.raises(KeyError), greeter.Greeter("<{name}>") as g:
        raise KeyError("boom")
    assert g.closed


def test_live_objects_counts_the_rust_objects() -> None:
    gc.collect()
    before = greeter.live_objects()
    greeters = [greeter.Greeter(f"{i}:{{name}}") for i in range(5)]
    assert greeter.live_objects() == before + 5
    for g in greeters[:3]:
        g.close()
    assert greeter.live_objects() == before + 2
    with pytest.raises(greeter.InvalidTemplateError):
        greeter.Greeter("no placeholder")
    assert greeter.live_objects() == before + 2, "a refused template creates nothing"
    del greeters, g
    gc.collect()
    assert greeter.live_objects() == before


def test_an_unclosed_greeter_is_freed_when_collected() -> None:
    gc.collect()
    before = greeter.live_objects()
    g = greeter.Greeter("<{name}>")
    assert g.greet("a") == "<a>"
    del g
    gc.collect()  # CPython frees it at the del already; PyPy when it collects
    assert greeter.live_objects() == before
    cycle: list[Any] = [greeter.Greeter("<{name}>")]
    cycle.append(cycle)
    del cycle
    gc.collect()
    assert greeter.live_objects() == before


def test_a_call_running_when_close_happens_completes_normally() -> None:
    # The names are read after the call took its reference to the object: closing from inside
    # the iteration is a close while the call is in flight (and a close that waited for calls
    # to finish would wait here forever).
    g = greeter.Greeter("<{name}>")

    def names() -> Iterator[str]:
        yield "a"
        g.close()
        yield "b"

    assert g.greet_many(names()) == ["<a>", "<b>"]
    assert g.closed
    with pytest.raises(ValueError, match=CLOSED):
        g.greet_many(["c"])


def close_while_sixteen_threads_call(round_: int) -> list[Any]:
    g = greeter.Greeter(f"{round_}<{{name}}>")
    started = threading.Barrier(17)
    wrong: list[Any] = []

    def work(t: int) -> None:
        started.wait()
        i = 0
        while True:
            name = f"t{t}-{i}-{'世' * (i % 50)}"
            try:
                if i % 3:
                    result: Any = g.greet(name)
                    want: Any = f"{round_}<{name}>"
                else:
                    result = g.greet_many([name] * 200)
                    want = [f"{round_}<{name}>"] * 200
            except ValueError as exc:
                if str(exc) != "closed Greeter":
                    wrong.append(exc)
                return  # every thread ends on the error: calls after close() raise
            if result != want:
                wrong.append((name, result))
            i += 1

    threads = [threading.Thread(target=work, args=(t,)) for t in range(16)]
    for thread in threads:
        thread.start()
    started.wait()
    time.sleep(0.002 * round_)  # a different mix of calls in flight each round
    g.close()
    for thread in threads:
        thread.join()
    return wrong


@pytest.mark.parametrize("round_", range(5))
def test_close_while_sixteen_threads_call_never_breaks_a_call(round_: int) -> None:
    assert close_while_sixteen_threads_call(round_) == []


@pytest.mark.parametrize("when", ["before_submit", "queued", "running"])
def test_close_while_async_calls_are_in_flight_lets_them_complete(when: str) -> None:
    async def main() -> list[str]:
        g = greeter.Greeter("[{name}]")
        tasks = [asyncio.ensure_future(g.greet_async(f"n{i}")) for i in range(5_000)]
        if when == "queued":
            await asyncio.sleep(0)  # submitted to Rust, most not started
        elif when == "running":
            await tasks[0]  # workers are busy with the rest
        g.close()
        assert g.closed
        with pytest.raises(ValueError, match=CLOSED):
            await g.greet_async("late")
        return await asyncio.gather(*tasks)

    assert asyncio.run(main()) == [f"[n{i}]" for i in range(5_000)]


def test_close_returns_while_another_thread_is_inside_a_call() -> None:
    # Thread A is inside greet_many (its names are still being read) until the close has
    # returned: a close() that waited for calls to finish would never return.
    g = greeter.Greeter("<{name}>")
    inside, closed = threading.Event(), threading.Event()
    result: list[list[str]] = []

    def names() -> Iterator[str]:
        yield "a"
        inside.set()
        closed.wait()
        yield "b"

    def call() -> None:
        result.append(g.greet_many(names()))

    a = threading.Thread(target=call)
    a.start()
    inside.wait()
    closer = threading.Thread(target=g.close)
    closer.start()
    closer.join(timeout=30)
    returned = not closer.is_alive()
    closed.set()
    a.join()
    closer.join()
    assert returned, "close() waited for a call in flight"
    assert g.closed
    assert result == [["<a>", "<b>"]]


# --- threads and async ----------------------------------------------------------------------


def test_sixteen_threads_share_one_greeter_exactly() -> None:
    calls = 2_000
    wrong: list[Any] = []
    with greeter.Greeter("¡Hola, {name}! ({name})") as g:
        start = threading.Barrier(16)

        def work(t: int) -> None:
            start.wait()
            for i in range(calls):
                name = f"thread{t}-call{i}-{'🦀' * (i % 7)}"
                if g.greet(name) != f"¡Hola, {name}! ({name})":
                    wrong.append(name)
                if i % 100 == 0:
                    batch = [f"{name}-{k}" for k in range(50)]
                    if g.greet_many(batch) != [f"¡Hola, {n}! ({n})" for n in batch]:
                        wrong.append(batch)

        threads = [threading.Thread(target=work, args=(t,)) for t in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert wrong == []


def test_thousands_of_concurrent_async_calls_are_exact() -> None:
    async def main(g: greeter.Greeter) -> list[str]:
        return await asyncio.gather(*(g.greet_async(f"n{i}") for i in range(20_000)))

    with greeter.Greeter("«{name}»") as g:
        assert asyncio.run(main(g)) == [f"«n{i}»" for i in range(20_000)]


def test_async_calls_from_several_loops_and_greeters_at_once() -> None:
    wrong: list[Any] = []
    greeters = [greeter.Greeter(f"{k}:{{name}}") for k in range(4)]

    def loop_thread(t: int) -> None:
        async def main() -> None:
            calls = [greeters[(t + i) % 4].greet_async(f"t{t}i{i}") for i in range(2_000)]
            got = await asyncio.gather(*calls)
            want = [f"{(t + i) % 4}:t{t}i{i}" for i in range(2_000)]
            if got != want:
                wrong.append(t)

        asyncio.run(main())

    threads = [threading.Thread(target=loop_thread, args=(t,)) for t in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for g in greeters:
        g.close()
    assert wrong == []


def test_a_cancel_storm_on_a_greeters_async_calls() -> None:
    rng = random.Random(20261126)
    total = 10_000
    cancel = set(rng.sample(range(total), total // 2))
    order = sorted(cancel, key=lambda _: rng.random())
    thirds = [order[: len(order) // 3], order[len(order) // 3 : 2 * len(order) // 3]]
    thirds.append(order[2 * len(order) // 3 :])

    async def main() -> list[Any]:
        g = greeter.Greeter("<{name}>")
        tasks = [asyncio.ensure_future(g.greet_async(f"n{i}")) for i in range(total)]
        for i in thirds[0]:  # before they reach Rust
            tasks[i].cancel()
        await asyncio.sleep(0)
        for i in thirds[1]:  # queued, running or completed in Rust
            tasks[i].cancel()
        g.close()  # in the middle of the storm
        for k, i in enumerate(thirds[2]):  # while completions are drained
            if k % 50 == 0:
                await asyncio.sleep(0)
            tasks[i].cancel()
        return await asyncio.gather(*tasks, return_exceptions=True)

    results = asyncio.run(main())
    cancelled = set()
    for i, result in enumerate(results):
        if isinstance(result, asyncio.CancelledError):
            cancelled.add(i)
        else:
            assert result == f"<n{i}>"
    assert cancelled <= cancel
    assert set(thirds[0]) <= cancelled


# --- fork -----------------------------------------------------------------------------------

FORK_WITH_A_LIVE_GREETER = textwrap.dedent(
    """
    import asyncio, os, signal, sys, threading
    import greeter

    def child_checks(g, expect_objects):
        signal.alarm(20)  # a hung child dies of SIGALRM instead of hanging the test
        ok = g.greet("child") == "<child>"
        ok = ok and g.greet_many(["a", "b"]) == ["<a>", "<b>"]
        ok = ok and asyncio.run(g.greet_async("child")) == "<child>"
        ok = ok and asyncio.run(greeter.greet_async("child")) == "Async Hello, child!"
        if expect_objects is not None:
            ok = ok and greeter.live_objects() == expect_objects
            g.close()
            ok = ok and greeter.live_objects() == expect_objects - 1
        with greeter.Greeter("[{name}]") as h:
            ok = ok and h.greet("new") == "[new]"
        os._exit(0 if ok else 3)

    def fork_and_wait(g, expect_objects):
        pid = os.fork()
        if pid == 0:
            child_checks(g, expect_objects)
        _, status = os.waitpid(pid, 0)
        return os.waitstatus_to_exitcode(status)

    g = greeter.Greeter("<{name}>")
    assert asyncio.run(g.greet_async("parent")) == "<parent>"
    # A quiet parent: the child sees the same objects and can free them.
    code = fork_and_wait(g, greeter.live_objects())
    if code:
        sys.exit(code)

    # A busy parent: other threads are inside sync and async calls on g when it forks.
    stop = threading.Event()
    def sync_calls():
        while not stop.is_set():
            assert g.greet_many(["s"] * 1000) == ["<s>"] * 1000
    def async_calls():
        async def batch():
            return await asyncio.gather(*(g.greet_async(f"b{i}") for i in range(50)))
        while not stop.is_set():
            assert asyncio.run(batch()) == [f"<b{i}>" for i in range(50)]
    threads = [threading.Thread(target=f) for f in (sync_calls, async_calls)]
    for t in threads:
        t.start()
    codes = [fork_and_wait(g, None) for _ in range(3)]
    stop.set()
    for t in threads:
        t.join()
    # The parent is unaffected by its children.
    assert g.greet("parent") == "<parent>"
    g.close()
    sys.exit(max(codes))
    """
)


def test_a_fork_child_can_use_a_live_greeter() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", FORK_WITH_A_LIVE_GREETER],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


# --- the C API -------------------------------------------------------------------------------


def test_the_handle_is_opaque_and_its_ownership_stated_in_the_header() -> None:
    text = (greeter.include_dir() / "greeter.h").read_text(encoding="utf-8")
    header = re.sub(r"\n\s*\*(?!/) ?", "\n", text)  # doc comments' leading " * " dropped
    assert "typedef struct GreeterGreeter GreeterGreeter;" in header
    assert "struct GreeterGreeter {" not in header, "no field of the object is visible to C"
    docs = " ".join(header.split("typedef struct GreeterGreeter GreeterGreeter;")[0].split())
    for claim in [
        "dropped exactly once with `greeter_greeter_free`",
        "every task submitted with `greeter_greeter_greet_submit` holds its own",
        "A call with a freed handle is undefined behaviour in C",
    ]:
        assert claim in docs
    free_docs = " ".join(header.split("void greeter_greeter_free(")[0].split()[-80:])
    assert "NULL is accepted" in free_docs
    assert "Drops the caller's reference" in free_docs


def test_the_c_api_frees_null_and_refuses_a_null_handle() -> None:
    from greeter._greeter_cffi import ffi

    lib.greeter_greeter_free(ffi.NULL)
    status = ffi.new("GreeterStatus *")
    assert lib.greeter_greeter_greet_many(ffi.NULL, b"a", 1, 1, ffi.NULL, 0, status) == 0
    assert status.code == lib.GREETER_ERR_NULL_POINTER
    assert ffi.string(status.message) == b"greeter is NULL"
    lib.greeter_status_clear(status)


# --- the reference model ------------------------------------------------------------------

_TOKEN = re.compile(r"\{name\}|\{\{|\}\}|[{}\0]|[^{}\0]+")


def reference(template: str) -> list[str] | int:
    """The literal pieces of a valid template, or the character offset of its problem."""
    data = template.encode()
    if len(data) > MAX_BYTES:
        return len(data[:MAX_BYTES].decode(errors="ignore"))
    pieces = [""]
    for token in _TOKEN.finditer(template):
        text = token.group()
        if text == "{name}":
            pieces.append("")
        elif text in ("{{", "}}"):
            pieces[-1] += text[0]
        elif text in ("{", "}", "\0"):
            return token.start()
        else:
            pieces[-1] += text
    return pieces if len(pieces) > 1 else len(template)


_char = st.characters(exclude_categories=["Cs"])
_no_nul = st.characters(exclude_categories=["Cs"], exclude_characters="\0")
templates = st.lists(
    st.one_of(
        st.sampled_from(["{name}", "{", "}", "{{", "}}", "{nam", "{0}", "{}", "\0", "{name!r}"]),
        st.sampled_from(["a", " ", "é", "世", "🦀", "e\u0301", "name"]),
        st.text(_char, max_size=3),
    ),
    max_size=12,
).map("".join)
names = st.text(_no_nul, max_size=20)
# Valid by construction: literal text (braces doubled) between placeholders.
literal_pieces = st.lists(st.text(_no_nul, max_size=8), min_size=2, max_size=5)


def escaped_template(pieces: list[str]) -> str:
    return "{name}".join(p.replace("{", "{{").replace("}", "}}") for p in pieces)


@PROPS
@given(templates, st.lists(names, max_size=4))
def test_any_template_is_refused_or_renders_as_the_reference(
    template: str, batch: list[str]
) -> None:
    want = reference(template)
    if isinstance(want, int):
        with pytest.raises(greeter.InvalidTemplateError) as info:
            greeter.Greeter(template)
        assert offset_of(info) == want
        return
    with greeter.Greeter(template) as g:
        for name in batch:
            assert g.greet(name) == name.join(want) == template.format(name=name)
        assert g.greet_many(batch) == [name.join(want) for name in batch]


@PROPS
@given(literal_pieces, names)
def test_literal_text_between_placeholders_renders_back(pieces: list[str], name: str) -> None:
    template = escaped_template(pieces)
    with greeter.Greeter(template) as g:
        assert g.greet(name) == name.join(pieces)


@settings(max_examples=25, deadline=None)
@given(literal_pieces, st.lists(names, max_size=8))
def test_async_results_agree_with_sync_ones(pieces: list[str], batch: list[str]) -> None:
    async def main(g: greeter.Greeter) -> list[str]:
        return await asyncio.gather(*(g.greet_async(name) for name in batch))

    with greeter.Greeter(escaped_template(pieces)) as g:
        assert asyncio.run(main(g)) == g.greet_many(batch) == [n.join(pieces) for n in batch]


@PROPS
@given(st.text(max_size=12))
def test_any_str_template_gets_a_result_or_a_documented_exception(template: str) -> None:
    if any(0xD800 <= ord(c) <= 0xDFFF for c in template):
        with pytest.raises(UnicodeEncodeError):
            greeter.Greeter(template)
        return
    want = reference(template)
    if isinstance(want, int):
        with pytest.raises(greeter.InvalidTemplateError):
            greeter.Greeter(template)
        return
    with greeter.Greeter(template) as g:
        assert g.greet("x") == "x".join(want)
