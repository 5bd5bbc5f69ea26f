"""The pieces an object type is built from (greeter._core.Handle, greeter._aio.async_method):
a method reads its object's pointer, an async method holds it until its coroutine ends."""

from __future__ import annotations

import asyncio
import gc

import pytest

import greeter
from greeter._aio import async_method
from greeter._core import Handle, call, lib
from greeter._pool import TEXT


class Template(Handle):
    """Greeter's Rust object behind a minimal type: what a new object type writes."""

    __slots__ = ()

    def __init__(self, template: bytes) -> None:
        self._own(call(lib.greeter_greeter_new, template, len(template)), lib.greeter_greeter_free)

    def pointer(self) -> object:
        return self._pointer()

    greet_async = async_method(lib.greeter_greeter_greet_submit, lift=TEXT)


@pytest.mark.usefixtures("no_leaks")
def test_an_async_method_runs_on_its_object_and_outlives_close() -> None:
    gc.collect()
    before = greeter.live_objects()
    template = Template(b"<{name}>")

    async def main() -> list[str]:
        calls = [template.greet_async(name) for name in ("Al", "", "世界")]
        template.close()  # the calls made hold the object; Rust frees it after them
        return await asyncio.gather(*calls)

    assert asyncio.run(main()) == ["<Al>", "<>", "<世界>"]
    with pytest.raises(ValueError, match="closed Template"):
        _ = template.greet_async("Al")
    with pytest.raises(ValueError, match="closed Template"):
        template.pointer()
    gc.collect()
    assert greeter.live_objects() == before


@pytest.mark.usefixtures("no_leaks")
def test_an_async_method_reports_its_errors_on_its_task() -> None:
    with Template(b"{name}") as template:
        with pytest.raises(greeter.InteriorNulError):
            asyncio.run(template.greet_async("a\0b"))
        with pytest.raises(TypeError):
            asyncio.run(template.greet_async(3))  # type: ignore[arg-type]
