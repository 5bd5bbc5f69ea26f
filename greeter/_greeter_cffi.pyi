"""Type stub for the cffi-generated extension (built at install time, not in the source tree)."""

from typing import Any

ffi: Any
lib: Any
