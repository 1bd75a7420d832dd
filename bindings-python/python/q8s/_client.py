"""``q8s.Client``: the q8s service from Python, through the core's API client (the requests,
errors and configuration of ``q8s-cli``). Calls release the GIL and stop on Ctrl-C."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, Union

from . import _q8s
from ._errors import InstanceError
from ._icons import IconSource, remember_source
from ._models import (
    App,
    AppList,
    Bundle,
    Deployment,
    Instance,
    InstanceList,
    InstanceStatus,
    Secret,
    Token,
    User,
    Visibility,
)

if TYPE_CHECKING:
    from ._progress import Progress, ProgressArg

StrPath = Union[str, "os.PathLike[str]"]
AppRef = Union[str, App]
InstanceRef = Union[str, Instance]
VisibilityArg = Union[Visibility, str]
StatusArg = Union[InstanceStatus, str]
UsersArg = Union[Literal["ALL_USERS"], Sequence[str]]

#: How many lines of a failed instance's log :class:`q8s.InstanceError` carries.
LOG_TAIL = 40


def _open_progress(progress: ProgressArg, label: str) -> Progress:
    # Imported when used: most calls show no progress, and `import q8s` stays quick.
    from ._progress import open_progress

    return open_progress(progress, label)


def _app_id(app: AppRef) -> str:
    return app if isinstance(app, str) else app.id


def _instance_id(instance: InstanceRef) -> str:
    return instance if isinstance(instance, str) else instance.id


def _users(users: UsersArg | None) -> str | list[str] | None:
    return users if users is None or isinstance(users, str) else list(users)


def _apps(apps: Sequence[str] | None) -> list[str] | None:
    return None if apps is None else list(apps)


def _status_line(instance: Instance) -> str:
    if instance.status_message:
        return f"{instance.status.value}: {instance.status_message}"
    return instance.status.value


class Client:
    """A client of one q8s server.

    ``Client()`` finds the server and token as ``q8s-cli`` does: ``Q8S_URL``, ``Q8S_TOKEN``
    and ``Q8S_PROFILE``, then the configuration file (``$Q8S_CONFIG``, else
    ``~/.config/q8s/config.toml``) that ``q8s-cli config setup`` writes. Arguments come
    first: ``Client(url="http://127.0.0.1:8008", token="q8s_…")``.

    Methods taking an app or an instance accept its id or the object itself.

    >>> import q8s
    >>> client = q8s.Client(url="http://127.0.0.1:8008", token="q8s_example")
    >>> client.url
    'http://127.0.0.1:8008'
    >>> app, instance = client.deploy("examples/hello")  # doctest: +SKIP
    >>> instance.status  # doctest: +SKIP
    <InstanceStatus.RUNNING: 'RUNNING'>
    """

    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        *,
        profile: str | None = None,
    ) -> None:
        self._native = _q8s.NativeClient(url, token, profile)
        self._icons = IconSource(self._native.icon)

    @property
    def url(self) -> str:
        """The server's base URL."""
        return self._native.url

    @property
    def profile(self) -> str:
        """The profile of the configuration file that was consulted."""
        return self._native.profile

    def __repr__(self) -> str:
        token = "with a token" if self._native.has_token else "without a token"
        return f"<q8s.Client {self.url} ({token}, profile {self.profile!r})>"

    def _app(self, d: dict[str, Any]) -> App:
        return self._remember(App._from_dict(d))

    def _remember(self, app: App) -> App:
        remember_source(app.id, self._icons)
        return app

    def _instance(self, d: dict[str, Any]) -> Instance:
        instance = Instance._from_dict(d)
        remember_source(instance.app_id, self._icons)
        return instance

    # Apps

    def me(self) -> User:
        """Who the token belongs to."""
        d = self._native.me()
        return User(username=d["username"], admin=d["admin"], created_at=d["created_at"])

    def apps(
        self,
        all: bool = False,
        *,
        name: str | None = None,
        all_versions: bool = False,
        limit: int | None = None,
    ) -> AppList:
        """The caller's apps, the latest version of each Name (every version with
        ``all_versions=True``); with ``all=True`` every app the caller can launch; with
        ``name`` only the app of that Name. Every app (the server's pages are followed), or
        with ``limit`` the first ``limit`` by Name; the list's ``more`` says whether others
        follow."""
        found = self._native.apps(all, name, all_versions, _limit(limit))
        return AppList(
            (self._remember(App._from_dict(d)) for d in found["items"]), more=found["more"]
        )

    def app(self, app: AppRef) -> App:
        """One app."""
        return self._app(self._native.app(_app_id(app)))

    def update_app(self, app: AppRef, *, visibility: VisibilityArg) -> App:
        """Changes an app's visibility (nothing else about an app can change)."""
        return self._app(self._native.update_app(_app_id(app), visibility))

    def delete_app(self, app: AppRef) -> None:
        """Deletes an app; refused (:class:`q8s.Conflict`, ``app-has-instances``) while it has
        instances that are not terminated."""
        self._native.delete_app(_app_id(app))

    def import_bundle(
        self,
        bundle: Bundle | StrPath,
        visibility: VisibilityArg = Visibility.PRIVATE,
        *,
        progress: ProgressArg = False,
    ) -> App:
        """Imports a bundle: a :class:`q8s.Bundle`, a ``.qz`` file, or an app folder (bundled
        first, into a temporary folder). The file is streamed, never read whole into memory.
        An existing name and version raises :class:`q8s.Conflict` (``app-version-exists``).
        """
        if isinstance(bundle, Bundle):
            return self._upload(bundle.path, visibility, progress)
        if not os.path.isdir(bundle):
            return self._upload(bundle, visibility, progress)
        import tempfile

        from ._offline import bundle as build

        with tempfile.TemporaryDirectory(prefix="q8s-import-") as work:
            return self._upload(build(bundle, output=work).path, visibility, progress)

    def _upload(self, path: StrPath, visibility: VisibilityArg, progress: ProgressArg) -> App:
        with _open_progress(progress, "uploading") as bar:
            return self._app(self._native.import_file(path, visibility, bar.update))

    def run(self, app: AppRef, visibility: VisibilityArg = Visibility.PRIVATE) -> Instance:
        """Launches an instance of the app; it starts in the background (see :meth:`wait`)."""
        return self._instance(self._native.run(_app_id(app), visibility))

    def deploy(
        self,
        path: StrPath,
        visibility: VisibilityArg = Visibility.PRIVATE,
        *,
        wait: bool = True,
        timeout: float = 300,
        progress: ProgressArg = False,
    ) -> Deployment:
        """Publishes the app folder ``path`` as ``q8s-cli bundle deploy`` does: bundles it under
        the version ``<Version>-<UTC yyyymmddHHMMSS>`` (so deploying again never collides),
        imports it, launches an instance and, with ``wait``, waits until it runs.

        Raises :class:`q8s.BundleError` when the folder cannot be bundled, and
        :class:`q8s.InstanceError` when the instance fails to start.
        """
        import tempfile

        with _open_progress(progress, "uploading") as bar:

            def changed(d: dict[str, Any]) -> None:
                bar.status(_status_line(Instance._from_dict(d)))

            with tempfile.TemporaryDirectory(prefix="q8s-deploy-") as work:
                result = self._native.deploy(
                    path, work, visibility, timeout if wait else None, bar.update, changed
                )
        app = self._remember(App._from_dict(result["app"]))
        instance = self._instance(result["instance"])
        if result["log_tail"] is not None:
            raise self._failure(instance, result["log_tail"])
        return Deployment(app, instance)

    # Instances

    def instances(
        self, all: bool = False, *, status: str | None = None, limit: int | None = None
    ) -> InstanceList:
        """The caller's live instances (all but ``TERMINATED``), newest first; with
        ``all=True`` also every ``ALL_USERS`` one. ``status`` is ``"live"`` (the default),
        ``"all"`` or statuses separated by commas (``"RUNNING,FAILED"``). Every instance (the
        server's pages are followed), or with ``limit`` the newest ``limit``. The list's
        ``terminated_omitted`` counts the terminated instances it leaves out, and ``more``
        says whether ``limit`` left others out."""
        found = self._native.instances(all, status, _limit(limit))
        return InstanceList(
            (self._instance(d) for d in found["instances"]),
            terminated_omitted=found["terminated_omitted"],
            more=found["more"],
        )

    def instance(self, instance: InstanceRef) -> Instance:
        """One instance."""
        return self._instance(self._native.instance(_instance_id(instance)))

    def update_instance(self, instance: InstanceRef, *, visibility: VisibilityArg) -> Instance:
        """Changes an instance's visibility."""
        d = self._native.update_instance(_instance_id(instance), visibility)
        return self._instance(d)

    def suspend(self, instance: InstanceRef) -> Instance:
        """Stops the instance's processes and keeps its volume."""
        return self._instance(self._native.suspend(_instance_id(instance)))

    def resume(self, instance: InstanceRef) -> Instance:
        """Starts a suspended (or failed) instance again."""
        return self._instance(self._native.resume(_instance_id(instance)))

    def terminate(self, instance: InstanceRef) -> None:
        """Stops the instance for good and removes its volume."""
        self._native.terminate(_instance_id(instance))

    def logs(
        self, instance: InstanceRef, *, follow: bool = False, tail: int | None = None
    ) -> _q8s.LogLines:
        """The instance's log, line by line (the last ``tail`` lines only, if given). With
        ``follow=True`` the iterator waits for new lines until the instance stops; Ctrl-C
        interrupts it. Use it in a ``with`` block (or call ``close()``) to stop early."""
        return self._native.logs(_instance_id(instance), tail, follow)

    def wait(
        self,
        instance: InstanceRef,
        status: StatusArg = InstanceStatus.RUNNING,
        timeout: float = 120,
        *,
        progress: ProgressArg = False,
    ) -> Instance:
        """Waits until the instance is in ``status`` and returns it. Raises
        :class:`q8s.InstanceError` when it ends up ``FAILED`` or ``TERMINATED`` instead, and
        :class:`q8s.ApiError` (code ``timeout``) after ``timeout`` seconds."""
        with _open_progress(progress, "waiting") as bar:
            target = InstanceStatus(status.upper())
            return self._wait(_instance_id(instance), target, timeout, bar)

    def _wait(
        self, instance_id: str, status: InstanceStatus, timeout: float, bar: Progress
    ) -> Instance:
        def changed(d: dict[str, Any]) -> None:
            bar.status(_status_line(Instance._from_dict(d)))

        instance = self._instance(self._native.wait(instance_id, status, timeout, changed))
        if instance.status != status:
            raise self._failure(instance)
        return instance

    # Secrets

    def secrets(self) -> list[Secret]:
        """The secrets the caller may use in apps: names and keys, never values. For admins,
        every secret, with who may use it (``access``)."""
        return [Secret._from_dict(d) for d in self._native.secrets()]

    def set_secret(
        self,
        name: str,
        data: Mapping[str, str],
        *,
        users: UsersArg | None = None,
        apps: Sequence[str] | None = None,
        any_app: bool = False,
    ) -> Secret:
        """Creates or replaces a secret with exactly the keys of ``data`` (admins). ``users``
        (``"ALL_USERS"`` or usernames; ``[]`` for admins only), ``apps`` (app Names) and
        ``any_app=True`` change who may use it; left out, that part of the rule stays (a new
        secret is for admins only, in any app)."""
        d = self._native.set_secret(name, dict(data), _users(users), _apps(apps), any_app)
        return Secret._from_dict(d)

    def set_secret_access(
        self,
        name: str,
        *,
        users: UsersArg | None = None,
        apps: Sequence[str] | None = None,
        any_app: bool = False,
    ) -> Secret:
        """Changes who may use a secret (admins); its values stay. Arguments as for
        :meth:`set_secret`; :class:`q8s.NotFound` for an unknown secret."""
        d = self._native.set_secret_access(name, _users(users), _apps(apps), any_app)
        return Secret._from_dict(d)

    def delete_secret(self, name: str) -> None:
        """Deletes a secret (admins)."""
        self._native.delete_secret(name)

    # Tokens

    def tokens(self, all: bool = False) -> list[Token]:
        """The caller's API tokens, oldest first: names and times, never the secrets. With
        ``all=True`` every user's (admins only; :class:`q8s.Forbidden` otherwise)."""
        return [Token._from_dict(d) for d in self._native.tokens(all)]

    def revoke_token(self, token: Token | str) -> None:
        """Revokes one of the caller's tokens (admins: anyone's), by :class:`Token` or id:
        whoever holds it is signed out. :class:`q8s.NotFound` for an unknown id."""
        self._native.revoke_token(token.id if isinstance(token, Token) else token)

    def _failure(self, instance: Instance, tail: list[str] | None = None) -> InstanceError:
        reason = f": {instance.status_message}" if instance.status_message else ""
        message = (
            f"instance {instance.id} is {instance.status.value}{reason} (instance-failed)"
            f" — see client.logs({instance.id!r})"
        )
        if tail is None:
            try:
                with self._native.logs(instance.id, LOG_TAIL, False) as lines:
                    tail = list(lines)
            except Exception:  # the log is a courtesy: the failure is what matters
                tail = []
        return InstanceError(message, instance, tail or [])


def _limit(limit: int | None) -> int | None:
    """``limit`` as the native client takes it: a positive number, or ``None`` for all."""
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ValueError(f"limit must be a positive whole number or None, not {limit!r}")
    return limit
