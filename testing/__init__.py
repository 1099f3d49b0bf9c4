"""Test doubles at the process boundary (the fake OpenAI-compatible server) and their fixtures."""
