"""q8s for Python: bundle, validate and publish H2O Wave apps.

Offline, with the same rules, bytes and diagnostics as ``q8s-cli``::

    import q8s
    manifest = q8s.validate("path/to/app")      # raises q8s.ManifestError on errors
    bundle = q8s.bundle("path/to/app", output="dist/")

Against a q8s server (configured as for ``q8s-cli``, or ``Client(url=…, token=…)``)::

    client = q8s.Client()
    app, instance = client.deploy("path/to/app")
    print(instance.url)

See ``docs/python.md`` for the whole API.
"""

from ._client import Client
from ._errors import (
    ApiError,
    BundleError,
    Conflict,
    Error,
    ErrorCode,
    Forbidden,
    InstanceError,
    ManifestError,
    NotFound,
    Unauthorized,
)
from ._models import (
    App,
    AppList,
    Bundle,
    BundleRef,
    Decision,
    Deployment,
    Diagnostic,
    Entry,
    EnvVar,
    Inspection,
    Instance,
    InstanceList,
    InstanceStatus,
    Manifest,
    ManifestApp,
    Runtime,
    Secret,
    SecretAccess,
    Token,
    User,
    Visibility,
)
from ._offline import bundle, inspect, validate, validate_text
from ._q8s import LogLines, __version__

__all__ = [
    "ApiError",
    "App",
    "AppList",
    "Bundle",
    "BundleError",
    "BundleRef",
    "Client",
    "Conflict",
    "Decision",
    "Deployment",
    "Diagnostic",
    "Entry",
    "EnvVar",
    "Error",
    "ErrorCode",
    "Forbidden",
    "Inspection",
    "Instance",
    "InstanceError",
    "InstanceList",
    "InstanceStatus",
    "LogLines",
    "Manifest",
    "ManifestApp",
    "ManifestError",
    "NotFound",
    "Runtime",
    "Secret",
    "SecretAccess",
    "Token",
    "Unauthorized",
    "User",
    "Visibility",
    "__version__",
    "bundle",
    "inspect",
    "validate",
    "validate_text",
]
