"""The only place vendor SDKs and model runtimes are imported (STYLE.md: providers/)."""
