"""greeter's C ABI from ctypes: the library the installed package ships, no compiler needed.

    python examples/hello_ctypes.py

ctypes knows nothing of the C header, so every function needs its argtypes and restype; without
restype a returned ``char *`` is read as a C int and the pointer is truncated.
"""

from __future__ import annotations

import ctypes

import greeter

lib = ctypes.CDLL(str(greeter.library_path()))
lib.add_numbers.argtypes = [ctypes.c_int32, ctypes.c_int32]
lib.add_numbers.restype = ctypes.c_int32
lib.greet.argtypes = [ctypes.c_char_p]
lib.greet.restype = ctypes.c_void_p  # not c_char_p: we must keep the pointer to free it
lib.free_string.argtypes = [ctypes.c_void_p]
lib.free_string.restype = None
lib.greeter_version.argtypes = []
lib.greeter_version.restype = ctypes.c_char_p  # static: never freed

print(lib.add_numbers(3, 5))
name = "Alice"
pointer = lib.greet(name.encode())  # a NUL-terminated UTF-8 copy, borrowed for the call
if pointer is None:
    raise SystemExit("greet returned NULL")
try:
    print(ctypes.string_at(pointer).decode())
finally:
    lib.free_string(pointer)  # the caller owns the string: free it exactly once
print(lib.greet(b"\xff") is None)  # invalid UTF-8: NULL, never a made-up greeting
print(f"library {lib.greeter_version().decode()}")
