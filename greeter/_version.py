"""The package version. Its one source is rust/Cargo.toml: setup.py copies it into the
distribution's metadata, read here, and the Rust library reports the same through
``greeter_version()``; ``greeter._native`` refuses a library whose version differs."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__: str = version("greeter")
except PackageNotFoundError as exc:  # pragma: no cover - only outside an installation
    raise ImportError(
        "greeter is not installed (no distribution metadata); install it with `pip install .`"
    ) from exc
