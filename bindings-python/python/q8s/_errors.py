"""The exceptions of q8s. Every one has the stable ``code`` the CLI, the API and the browser
module use for the same failure, and its message is the sentence the CLI prints."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

from ._models import Diagnostic

if TYPE_CHECKING:
    from ._models import Instance

ErrorCode = Literal[
    # the server's (docs/api.md, "Server codes")
    "upload-failed",
    "conflicting-session-cookies",
    "invalid-cursor",
    "unauthorized",
    "forbidden",
    "app-name-taken",
    "secret-forbidden",
    "cross-origin-request",
    "not-found",
    "app-version-exists",
    "app-has-instances",
    "user-exists",
    "user-code-exists",
    "instance-terminated",
    "bundle-too-large",
    "body-too-large",
    "unsupported-media-type",
    "invalid-request",
    "invalid-bundle",
    "immutable-field",
    "invalid-visibility",
    "missing-secret",
    "invalid-username",
    "weak-password",
    "invalid-secret-name",
    "invalid-secret-key",
    "empty-secret",
    "invalid-secret-access",
    "invalid-name",
    "unknown-user",
    "invalid-instance-spec",
    "too-many-attempts",
    "internal-error",
    "runtime-io",
    "runtime-shutting-down",
    "replica-unavailable",
    "insufficient-storage",
    # the clients' own (docs/api.md, "Client codes")
    "unreachable",
    "unexpected-response",
    "invalid-url",
    "timeout",
    "io-error",
    "read-failed",
    "invalid-path",
    "path-conflict",
    "invalid-argument",
    "cancelled",
    "access-denied",
    "expired-token",
    "invalid-grant",
    "invalid-client",
    "unsupported-grant-type",
    "instance-failed",
    "config-path",
    "config-io",
    "config-invalid",
    "unknown-profile",
    "ambiguous-id",
]
"""Every ``code`` a q8s error can have: core's ``ErrorCode`` list, which a test keeps this
equal to (see ``docs/api.md``, "Error codes")."""


class Error(Exception):
    """Base class of every q8s error.

    ``code`` is a stable kebab-case word (``invalid-bundle``, ``app-version-exists``,
    ``unreachable``…, one of :data:`ErrorCode`) to match on; ``str(error)`` is the sentence
    for people.
    """

    def __init__(self, message: str, *, code: ErrorCode) -> None:
        super().__init__(message)
        self.code = code

    @property
    def message(self) -> str:
        """The sentence for people (the same as ``str(error)``)."""
        return str(self.args[0]) if self.args else ""

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickled with every attribute (for multiprocessing, logging handlers…), whatever the
        # subclass's constructor takes.
        return (_rebuild, (type(self), self.args, self.__dict__))


def _rebuild(cls: type[Error], args: tuple[Any, ...], state: dict[str, Any]) -> Error:
    error = cls.__new__(cls, *args)
    error.args = args
    error.__dict__.update(state)
    return error


class ManifestError(Error):
    """The manifest (or, for a folder or ``.qz``, the app's contents) has errors.

    ``diagnostics`` lists every finding, warnings included, in the order the CLI shows them.
    """

    def __init__(
        self,
        message: str,
        diagnostics: Sequence[Diagnostic] = (),
        *,
        code: ErrorCode = "invalid-bundle",
    ) -> None:
        super().__init__(message, code=code)
        self.diagnostics: tuple[Diagnostic, ...] = tuple(diagnostics)

    def _repr_html_(self) -> str:
        from ._html import diagnostics_table

        return diagnostics_table(self.diagnostics, title=self.message.splitlines()[0])


class BundleError(Error):
    """A bundle cannot be built or read: its contents break a rule (``invalid-bundle``, with
    ``diagnostics``), or a file cannot be read or written (``io-error``)."""

    def __init__(
        self,
        message: str,
        diagnostics: Sequence[Diagnostic] = (),
        *,
        code: ErrorCode = "invalid-bundle",
    ) -> None:
        super().__init__(message, code=code)
        self.diagnostics: tuple[Diagnostic, ...] = tuple(diagnostics)

    def _repr_html_(self) -> str:
        from ._html import diagnostics_table

        return diagnostics_table(self.diagnostics, title=self.message.splitlines()[0])


class ApiError(Error):
    """A call to the q8s service failed.

    ``status`` is the HTTP status (``None`` when no answer came: ``unreachable``,
    ``timeout``…), ``code`` the server's error code, ``details`` its structured details (the
    diagnostics of a refused bundle, the missing secrets…).
    """

    def __init__(
        self,
        message: str,
        *,
        code: ErrorCode,
        status: int | None = None,
        details: Sequence[Any] = (),
    ) -> None:
        super().__init__(message, code=code)
        self.status = status
        self.details: tuple[Any, ...] = tuple(details)

    @property
    def diagnostics(self) -> tuple[Diagnostic, ...]:
        """The diagnostics in ``details`` (of an ``invalid-bundle`` answer)."""
        return tuple(
            Diagnostic._from_dict(d) for d in self.details if isinstance(d, dict) and "code" in d
        )


class NotFound(ApiError):
    """HTTP 404: the object does not exist, or the caller may not see it."""


class Conflict(ApiError):
    """HTTP 409: ``app-version-exists``, ``app-has-instances``…"""


class Unauthorized(ApiError):
    """HTTP 401: no token was sent, or the one sent was refused (revoked, or unknown)."""


class Forbidden(ApiError):
    """HTTP 403: the caller may see the object but not do this to it (``forbidden``), or a
    launch names a secret the app's user may not use in it (``secret-forbidden``)."""


class InstanceError(Error):
    """An instance awaited with :meth:`q8s.Client.wait` (or ``deploy(wait=True)``) stopped in
    another status (``FAILED``, ``TERMINATED``): ``instance`` says where it is, ``log_tail``
    holds the last lines of its log."""

    def __init__(self, message: str, instance: Instance, log_tail: Sequence[str] = ()) -> None:
        super().__init__(message, code="instance-failed")
        self.instance = instance
        self.log_tail: tuple[str, ...] = tuple(log_tail)


_BY_STATUS: dict[int, type[ApiError]] = {
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
}


def _from_native(
    kind: str, message: str, code: ErrorCode, status: int | None, details: list[Any]
) -> Error:
    """Builds the exception for a failure of the native module (called from Rust); ``details``
    are the diagnostics, or the server's details, in their JSON form."""
    if kind == "manifest":
        return ManifestError(message, [Diagnostic._from_dict(d) for d in details], code=code)
    if kind == "bundle":
        return BundleError(message, [Diagnostic._from_dict(d) for d in details], code=code)
    if kind == "api":
        cls = _BY_STATUS.get(status, ApiError) if status is not None else ApiError
        return cls(message, code=code, status=status, details=details)
    return Error(message, code=code)


for _cls in (
    Error,
    ManifestError,
    BundleError,
    ApiError,
    NotFound,
    Conflict,
    Unauthorized,
    Forbidden,
    InstanceError,
):
    _cls.__module__ = "q8s"
