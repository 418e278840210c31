//! Harness for the end-to-end tests: locates the built binaries, starts registries.
