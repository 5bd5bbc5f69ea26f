"""The package version, written by setup.py from rust/Cargo.toml at build time (never edit it
by hand), so that an installation and a build tree alike know it without distribution metadata.
The Rust library reports its own through ``greeter_version()``; ``greeter._core`` refuses a
library whose version differs."""

__version__ = "0.1.0"
