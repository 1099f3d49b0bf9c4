"""The errors of encrypted storage, beside core's shared ones."""

from core.errors import EngramError, ServiceUnavailable


class ChecksumMismatch(EngramError):
    """The bytes received do not hash to the checksum the client sent; nothing was stored."""

    status_code = 400
    code = "CHECKSUM_MISMATCH"
    default_message = "The body does not match its checksum; nothing was stored."


class PreconditionFailed(EngramError):
    """If-Match named a version that is no longer the current one."""

    status_code = 412
    code = "PRECONDITION_FAILED"
    default_message = "The object changed since you read it (If-Match did not match)."


class StorageUnavailable(ServiceUnavailable):
    """The blob storage failed; nothing was stored. Worth a retry."""

    default_message = "The storage is unavailable; nothing was stored. Try again shortly."
