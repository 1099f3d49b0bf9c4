"""Vendor integrations: the only place their SDKs are imported. Each returns our own dataclasses
and raises our own errors, so nothing above this package knows which vendor answered."""
