"""The values q8s returns: frozen classes whose attributes are named as the fields of the
core's JSON (the REST API's, for apps and instances). They are built from that JSON only:
every rule that decides their contents lives in the Rust core."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal, NamedTuple, cast

Severity = Literal["error", "warning", "note"]


class Visibility(str, enum.Enum):
    """Who may see an app or an instance: ``PRIVATE`` (its owner and admins) or
    ``ALL_USERS`` (every signed-in user). Plain strings work too, in any case."""

    PRIVATE = "PRIVATE"
    ALL_USERS = "ALL_USERS"

    def __str__(self) -> str:
        return self.value


class InstanceStatus(str, enum.Enum):
    """Where an instance is in its life: ``PENDING`` → ``STARTING`` → ``RUNNING``, and
    ``SUSPENDED``, ``FAILED``, ``TERMINATED``."""

    PENDING = "PENDING"
    STARTING = "STARTING"
    RUNNING = "RUNNING"
    SUSPENDED = "SUSPENDED"
    FAILED = "FAILED"
    TERMINATED = "TERMINATED"

    def __str__(self) -> str:
        return self.value


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _opt(value: Any) -> str | None:
    return None if value is None else str(value)


@dataclass(frozen=True)
class Diagnostic:
    """One finding about a manifest or a bundle, with the seven fields of its JSON form.

    ``line`` and ``column`` are 1-based (the column counted in characters) and ``None`` when
    the finding is not about a place in the manifest; ``path`` is a field path
    (``App.Version``, ``Env[0].Name``) or a file inside the bundle.
    """

    severity: Severity
    code: str
    path: str
    message: str
    line: int | None
    column: int | None
    help: str | None

    @property
    def is_error(self) -> bool:
        """True for errors, False for warnings and notes."""
        return self.severity == "error"

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: the seven fields, ``None`` where absent."""
        return {
            "severity": self.severity,
            "code": self.code,
            "path": self.path,
            "message": self.message,
            "line": self.line,
            "column": self.column,
            "help": self.help,
        }

    def _repr_html_(self) -> str:
        from ._html import diagnostics_table

        return diagnostics_table((self,))

    @classmethod
    def _from_dict(cls, d: dict[str, Any]) -> Diagnostic:
        return cls(
            severity=cast(Severity, d["severity"]),
            code=d["code"],
            path=d["path"],
            message=d["message"],
            line=d.get("line"),
            column=d.get("column"),
            help=d.get("help"),
        )


def _diagnostics(items: list[dict[str, Any]]) -> tuple[Diagnostic, ...]:
    return tuple(Diagnostic._from_dict(d) for d in items)


@dataclass(frozen=True)
class ManifestApp:
    """The ``[App]`` table of a manifest."""

    name: str
    version: str
    title: str | None
    description: str | None
    category: str | None
    keywords: tuple[str, ...]

    @classmethod
    def _from_dict(cls, d: dict[str, Any]) -> ManifestApp:
        return cls(
            name=d["name"],
            version=d["version"],
            title=_opt(d.get("title")),
            description=_opt(d.get("description")),
            category=_opt(d.get("category")),
            keywords=tuple(d.get("keywords", ())),
        )


@dataclass(frozen=True)
class Runtime:
    """The ``[Runtime]`` table of a manifest (and ``App.runtime`` of the API), quantities as
    written."""

    module: str
    volume_mount: str | None
    volume_size: str | None
    memory_limit: str | None
    memory_reservation: str | None
    idle_suspend: str | None = None

    @classmethod
    def _from_dict(cls, d: dict[str, Any]) -> Runtime:
        return cls(
            module=d["module"],
            volume_mount=_opt(d.get("volume_mount")),
            volume_size=_opt(d.get("volume_size")),
            memory_limit=_opt(d.get("memory_limit")),
            memory_reservation=_opt(d.get("memory_reservation")),
            idle_suspend=_opt(d.get("idle_suspend")),
        )


@dataclass(frozen=True)
class EnvVar:
    """One ``[[Env]]`` entry: the variable ``name`` is filled from key ``secret_key`` of the
    secret ``secret``."""

    name: str
    secret: str
    secret_key: str

    @classmethod
    def _from_dict(cls, d: dict[str, Any]) -> EnvVar:
        return cls(name=d["name"], secret=d["secret"], secret_key=d["secret_key"])


@dataclass(frozen=True)
class Manifest:
    """A valid ``q-app.toml``; ``diagnostics`` holds its warnings (and, for a folder or a
    ``.qz``, those about its contents)."""

    app: ManifestApp
    runtime: Runtime
    env: tuple[EnvVar, ...]
    diagnostics: tuple[Diagnostic, ...]

    def _repr_html_(self) -> str:
        from ._html import manifest_card

        return manifest_card(self)

    @classmethod
    def _from_dict(cls, d: dict[str, Any], diagnostics: list[dict[str, Any]]) -> Manifest:
        return cls(
            app=ManifestApp._from_dict(d["app"]),
            runtime=Runtime._from_dict(d["runtime"]),
            env=tuple(EnvVar._from_dict(e) for e in d.get("env", ())),
            diagnostics=_diagnostics(diagnostics),
        )


class Decision(NamedTuple):
    """Why a path of an app folder is in its bundle or not (``bundle(..., explain=True)``)."""

    path: str
    included: bool
    rule: str


@dataclass(frozen=True)
class Bundle:
    """A ``.qz`` bundle that :func:`q8s.bundle` wrote."""

    path: Path
    """Where it was written."""
    file_name: str
    """``<Name>.<Version>.qz``."""
    name: str
    version: str
    sha256: str
    """Lowercase hex sha256 of the file."""
    size: int
    """Size in bytes."""
    files: tuple[str, ...]
    """The paths stored, in archive order."""
    icon: str | None
    screenshots: tuple[str, ...]
    diagnostics: tuple[Diagnostic, ...]
    """The warnings (a bundle with errors is never written)."""
    explain: tuple[Decision, ...] | None = None
    """With ``explain=True``: every path seen, included or not, and the deciding rule."""

    @classmethod
    def _from_dict(cls, d: dict[str, Any], explain: bool) -> Bundle:
        return cls(
            path=Path(d["path"]),
            file_name=d["file_name"],
            name=d["name"],
            version=d["version"],
            sha256=d["sha256"],
            size=d["size"],
            files=tuple(d["files"]),
            icon=_opt(d.get("icon")),
            screenshots=tuple(d.get("screenshots", ())),
            diagnostics=_diagnostics(d.get("diagnostics", [])),
            explain=(
                tuple(Decision(e["path"], e["included"], e["rule"]) for e in d["explain"])
                if explain
                else None
            ),
        )


@dataclass(frozen=True)
class Entry:
    """One entry of a ``.qz``."""

    name: str
    size: int
    compressed_size: int
    executable: bool


@dataclass(frozen=True)
class Inspection:
    """What :func:`q8s.inspect` found in a ``.qz``: ``manifest`` is ``None`` unless ``valid``."""

    path: Path
    sha256: str
    valid: bool
    manifest: Manifest | None
    icon: str | None
    screenshots: tuple[str, ...]
    entries: tuple[Entry, ...]
    diagnostics: tuple[Diagnostic, ...]

    def _repr_html_(self) -> str:
        from ._html import diagnostics_table, manifest_card
        from ._icons import bundle_icon_uri

        if self.manifest is not None:
            icon = bundle_icon_uri(self.path) if self.icon is not None else None
            return manifest_card(self.manifest, icon)
        return diagnostics_table(self.diagnostics, title=f"{self.path}: invalid")

    @classmethod
    def _from_dict(cls, d: dict[str, Any]) -> Inspection:
        manifest = d.get("manifest")
        return cls(
            path=Path(d["path"]),
            sha256=d["sha256"],
            valid=d["valid"],
            manifest=None if manifest is None else Manifest._from_dict(manifest, d["diagnostics"]),
            icon=_opt(d.get("icon")),
            screenshots=tuple(d.get("screenshots", ())),
            entries=tuple(
                Entry(e["name"], e["size"], e["compressed_size"], e["executable"])
                for e in d["entries"]
            ),
            diagnostics=_diagnostics(d["diagnostics"]),
        )


@dataclass(frozen=True)
class BundleRef:
    """Where an app's bundle is stored."""

    location: str
    sha256: str
    size: int


@dataclass(frozen=True)
class App:
    """An imported app version, as ``GET /apps/{id}`` returns it."""

    id: str
    name: str
    version: str
    title: str | None
    description: str | None
    category: str | None
    keywords: tuple[str, ...]
    owner: str
    visibility: Visibility
    created_at: str
    """RFC 3339, UTC."""
    updated_at: str
    bundle: BundleRef
    icon_location: str | None
    screenshots: tuple[str, ...]
    runtime: Runtime
    env: tuple[EnvVar, ...]
    instance_count: int
    """Instances that are not terminated."""
    read_at: datetime = field(default_factory=_now, compare=False, repr=False)
    """When the client read this from the server (UTC): the facts are as of then, and the
    card says so."""

    @property
    def display_name(self) -> str:
        """The title, or the name when there is none."""
        return self.title or self.name

    def _repr_html_(self) -> str:
        from ._html import app_card

        return app_card(self)

    @classmethod
    def _from_dict(cls, d: dict[str, Any]) -> App:
        b = d["bundle"]
        return cls(
            id=d["id"],
            name=d["name"],
            version=d["version"],
            title=_opt(d.get("title")),
            description=_opt(d.get("description")),
            category=_opt(d.get("category")),
            keywords=tuple(d.get("keywords", ())),
            owner=d["owner"],
            visibility=Visibility(d["visibility"]),
            created_at=d["created_at"],
            updated_at=d["updated_at"],
            bundle=BundleRef(b["location"], b["sha256"], b["size"]),
            icon_location=_opt(d.get("icon_location")),
            screenshots=tuple(d.get("screenshots", ())),
            runtime=Runtime._from_dict(d["runtime"]),
            env=tuple(EnvVar._from_dict(e) for e in d.get("env", ())),
            instance_count=d["instance_count"],
        )


@dataclass(frozen=True)
class Instance:
    """A running (or stopped) copy of an app, as ``GET /instances/{id}`` returns it."""

    id: str
    app_id: str
    app_name: str
    app_version: str
    app_title: str | None
    """The app's title, if it has one."""
    app_icon_location: str | None
    """The app's icon, if it has one (cards fetch it from the API)."""
    owner: str
    visibility: Visibility
    status: InstanceStatus
    status_message: str | None
    """Why: a pending reason, a failure, the last crash."""
    restarts: int
    url: str
    """Where to open it."""
    created_at: str
    updated_at: str
    read_at: datetime = field(default_factory=_now, compare=False, repr=False)
    """When the client read this from the server (UTC): the status is as of then, and the
    card says so."""

    def _repr_html_(self) -> str:
        from ._html import instance_card

        return instance_card(self)

    @classmethod
    def _from_dict(cls, d: dict[str, Any]) -> Instance:
        return cls(
            id=d["id"],
            app_id=d["app_id"],
            app_name=d["app_name"],
            app_version=d["app_version"],
            app_title=_opt(d.get("app_title")),
            app_icon_location=_opt(d.get("app_icon_location")),
            owner=d["owner"],
            visibility=Visibility(d["visibility"]),
            status=InstanceStatus(d["status"]),
            status_message=_opt(d.get("status_message")),
            restarts=d["restarts"],
            url=d["url"],
            created_at=d["created_at"],
            updated_at=d["updated_at"],
        )


@dataclass(frozen=True)
class User:
    """A user account (``Client.me()``)."""

    username: str
    admin: bool
    created_at: str


@dataclass(frozen=True)
class Token:
    """An API token as ``Client.tokens()`` lists it: never its secret."""

    id: str
    """To revoke it: ``Client.revoke_token(id)``."""
    name: str
    """Its label; several tokens may share one."""
    owner: str
    created_at: str
    last_used_at: str | None
    """When it was last used, to within a minute; ``None`` if never."""
    current: bool
    """Whether it is the token this client sends."""

    @classmethod
    def _from_dict(cls, d: dict[str, Any]) -> Token:
        return cls(
            id=d["id"],
            name=d["name"],
            owner=d["owner"],
            created_at=d["created_at"],
            last_used_at=_opt(d.get("last_used_at")),
            current=d["current"],
        )


@dataclass(frozen=True)
class SecretAccess:
    """Who may use a secret besides the admins: ``users`` is ``"ALL_USERS"`` or the usernames
    (``()``: admins only); ``apps`` the app Names that may get it, whoever launches them
    (``None``: any app)."""

    users: Literal["ALL_USERS"] | tuple[str, ...]
    apps: tuple[str, ...] | None

    @classmethod
    def _from_dict(cls, d: dict[str, Any]) -> SecretAccess:
        users = d["users"]
        apps = d.get("apps")
        return cls(
            users="ALL_USERS" if users == "ALL_USERS" else tuple(users),
            apps=None if apps is None else tuple(apps),
        )


@dataclass(frozen=True)
class Secret:
    """A secret's name and keys (never its values), as ``GET /secrets`` returns it."""

    name: str
    keys: tuple[str, ...]
    access: SecretAccess | None
    """Who may use it: in admins' results only."""

    @classmethod
    def _from_dict(cls, d: dict[str, Any]) -> Secret:
        access = d.get("access")
        return cls(
            name=d["name"],
            keys=tuple(d["keys"]),
            access=None if access is None else SecretAccess._from_dict(access),
        )


class AppList(list[App]):
    """A list of apps that Jupyter shows as a table; ``more`` is true when a ``limit`` left
    apps out."""

    def __init__(self, apps: Iterable[App] = (), more: bool = False) -> None:
        super().__init__(apps)
        self.more = more

    def _repr_html_(self) -> str:
        from ._html import app_table

        return app_table(self)


class InstanceList(list[Instance]):
    """A list of instances that Jupyter shows as a table; ``terminated_omitted`` counts the
    terminated instances the server left out of it, and ``more`` is true when a ``limit``
    left instances out."""

    def __init__(
        self,
        instances: Iterable[Instance] = (),
        terminated_omitted: int = 0,
        more: bool = False,
    ) -> None:
        super().__init__(instances)
        self.terminated_omitted = terminated_omitted
        self.more = more

    def _repr_html_(self) -> str:
        from ._html import instance_table

        return instance_table(self, self.terminated_omitted)


class Deployment(NamedTuple):
    """What :meth:`q8s.Client.deploy` did: the app it imported and the instance it launched
    (unpacks as ``app, instance = client.deploy(...)``)."""

    app: App
    instance: Instance

    def _repr_html_(self) -> str:
        from ._html import app_card, instance_card

        return app_card(self.app) + instance_card(self.instance)


for _cls in (
    Visibility,
    InstanceStatus,
    Diagnostic,
    ManifestApp,
    Runtime,
    EnvVar,
    Manifest,
    Decision,
    Bundle,
    Entry,
    Inspection,
    BundleRef,
    App,
    Instance,
    User,
    AppList,
    InstanceList,
    Deployment,
):
    _cls.__module__ = "q8s"
