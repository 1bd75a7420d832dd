"""q8s.Client against a real q8s-server: the life of an app from import to delete, errors as
the exception hierarchy, progress, Ctrl-C and the GIL, and what Jupyter shows."""

from __future__ import annotations

import _thread
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import q8s
from conftest import REPO, Server

HELLO = REPO / "examples" / "hello"
START_TIMEOUT = 240


@pytest.fixture(scope="module")
def hello_bundle(tmp_path_factory: pytest.TempPathFactory) -> q8s.Bundle:
    return q8s.bundle(HELLO, output=tmp_path_factory.mktemp("bundle"))


@pytest.fixture(scope="module")
def hello_app(client: q8s.Client, hello_bundle: q8s.Bundle) -> Iterator[q8s.App]:
    """examples/hello imported once for the module; deleted at the end."""
    app = client.import_bundle(hello_bundle, visibility="PRIVATE")
    yield app
    for instance in client.instances(all=True):
        if instance.app_id == app.id and instance.status != q8s.InstanceStatus.TERMINATED:
            client.terminate(instance)
    try:
        client.delete_app(app)
    except q8s.NotFound:
        pass


@pytest.fixture(scope="module")
def running(client: q8s.Client, hello_app: q8s.App) -> q8s.Instance:
    """An instance of hello, RUNNING."""
    instance = client.run(hello_app)
    return client.wait(instance, "RUNNING", timeout=START_TIMEOUT)


def test_import_reads_the_bundle_back(
    client: q8s.Client, hello_app: q8s.App, hello_bundle: q8s.Bundle
) -> None:
    assert hello_app.name == hello_bundle.name
    assert hello_app.version == hello_bundle.version
    assert hello_app.bundle.sha256 == hello_bundle.sha256
    assert hello_app.bundle.size == hello_bundle.size
    assert hello_app.visibility is q8s.Visibility.PRIVATE
    assert hello_app.owner == client.me().username
    assert client.app(hello_app.id) == hello_app
    assert hello_app in client.apps()


def test_importing_the_same_version_again_is_a_conflict(
    client: q8s.Client, hello_app: q8s.App, hello_bundle: q8s.Bundle
) -> None:
    with pytest.raises(q8s.Conflict) as raised:
        client.import_bundle(hello_bundle.path)
    e = raised.value
    assert isinstance(e, q8s.ApiError) and isinstance(e, q8s.Error)
    assert (e.status, e.code) == (409, "app-version-exists")
    # The CLI's sentence: the fact, the code, what to do.
    assert str(e) == (
        f"app {hello_app.name} {hello_app.version} already exists (app-version-exists)"
        " — bump Version in q-app.toml"
    )


def test_unknown_ids_are_not_found(client: q8s.Client) -> None:
    with pytest.raises(q8s.NotFound) as raised:
        client.app("00000000-0000-0000-0000-000000000000")
    assert raised.value.status == 404
    with pytest.raises(q8s.NotFound):
        client.instance("not-a-uuid")


def test_a_bad_token_is_unauthorized(server: Server) -> None:
    with pytest.raises(q8s.Unauthorized) as raised:
        q8s.Client(url=server.url, token="q8s_not-a-token").apps()
    assert raised.value.status == 401
    assert str(raised.value).startswith("the API token sent was refused")


def test_an_invalid_bundle_is_refused_with_its_diagnostics(
    client: q8s.Client, tmp_path: Path
) -> None:
    import zipfile

    qz = tmp_path / "bad.qz"
    with zipfile.ZipFile(qz, "w") as z:
        z.writestr("q-app.toml", '[App]\nName = "demo"\nVersion = "1"\n[Runtime]\nModule = "a"\n')
        z.writestr("a.py", "")
    with pytest.raises(q8s.ApiError) as raised:
        client.import_bundle(qz)
    assert (raised.value.status, raised.value.code) == (422, "invalid-bundle")
    assert "invalid-version" in {d.code for d in raised.value.diagnostics}


def test_the_client_reads_the_cli_configuration(
    server: Server, isolated_config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    isolated_config.write_text(
        f'default = "test"\n[profiles.test]\nurl = "{server.url}"\ntoken = "{server.admin_token}"\n'
    )
    client = q8s.Client()
    assert (client.url, client.profile) == (server.url, "test")
    assert client.me().admin
    # The environment comes before the file, arguments before both.
    monkeypatch.setenv("Q8S_TOKEN", "q8s_wrong")
    with pytest.raises(q8s.Unauthorized):
        q8s.Client().me()
    assert q8s.Client(token=server.admin_token).me().admin
    with pytest.raises(q8s.Error) as raised:
        q8s.Client(profile="nope")
    assert raised.value.code == "unknown-profile"
    # A URL no profile is for, without a token: the profiles are named, nothing is sent.
    monkeypatch.delenv("Q8S_TOKEN")
    host, other_host = ("127.0.0.1", "localhost")
    if host not in server.url:
        host, other_host = other_host, host
    other = server.url.replace(host, other_host)
    with pytest.raises(q8s.Error) as raised:
        q8s.Client(url=other)
    assert raised.value.code == "unknown-profile"
    assert f"no profile is for {other}" in str(raised.value)
    assert f"`test` for {server.url}" in str(raised.value)
    # The URL of a profile picks that profile.
    assert q8s.Client(url=server.url).me().admin


def test_an_unreachable_server_says_how_to_fix_it(isolated_config: Path) -> None:
    with pytest.raises(q8s.ApiError) as raised:
        q8s.Client(url="http://127.0.0.1:9", token="x").apps()
    assert raised.value.code == "unreachable" and raised.value.status is None
    assert "Q8S_URL" in str(raised.value)
    # The hint names Python's own means, not the CLI's flags.
    assert "Client(url=" in str(raised.value) and "--url" not in str(raised.value)


def test_run_wait_and_open_through_the_proxy(
    server: Server, client: q8s.Client, running: q8s.Instance
) -> None:
    assert running.status is q8s.InstanceStatus.RUNNING
    status, page = server.get_instance(running, server.admin_token)
    assert status == 200
    assert b"wave" in page.lower()
    assert running in client.instances()


def test_visibility_changes(client: q8s.Client, hello_app: q8s.App, running: q8s.Instance) -> None:
    app = client.update_app(hello_app, visibility=q8s.Visibility.ALL_USERS)
    assert app.visibility is q8s.Visibility.ALL_USERS
    assert client.app(app.id).visibility == "ALL_USERS"  # a str enum
    app = client.update_app(app, visibility="private")
    assert app.visibility is q8s.Visibility.PRIVATE
    instance = client.update_instance(running, visibility="ALL_USERS")
    assert instance.visibility is q8s.Visibility.ALL_USERS
    with pytest.raises(ValueError):
        client.update_app(app, visibility="PUBLIC")


def test_logs_follow_streams_lines_and_ctrl_c_stops_it(
    client: q8s.Client, running: q8s.Instance
) -> None:
    lines = client.logs(running, tail=5)
    assert 0 < len(list(lines)) <= 5
    # Follow: the known lines come at once, then the iterator waits (the GIL released) until
    # a (simulated) Ctrl-C, which must stop it promptly.
    ticks = 0
    stop = threading.Event()

    def count() -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            time.sleep(0.001)

    timer = threading.Timer(1.5, _thread.interrupt_main)
    counter = threading.Thread(target=count)
    seen: list[str] = []
    with client.logs(running, follow=True) as follow:
        counter.start()
        timer.start()
        started = time.monotonic()
        with pytest.raises(KeyboardInterrupt):
            for line in follow:
                seen.append(line)
        interrupted_after = time.monotonic() - started
    stop.set()
    counter.join()
    assert seen, "the log so far comes first"
    assert 1.4 < interrupted_after < 3.0, interrupted_after
    assert ticks > 100, "another thread ran while the follow waited"


def test_ctrl_c_cancels_an_upload(client: q8s.Client, tmp_path: Path) -> None:
    """A (simulated) Ctrl-C during an upload stops it: no app is created."""
    import zipfile

    big = tmp_path / "big.qz"
    payload = tmp_path / "payload.bin"
    with open(payload, "wb") as f:
        f.truncate(256 << 20)  # sparse: cheap to make, as slow to send as any other bytes
    with zipfile.ZipFile(big, "w", zipfile.ZIP_STORED) as z:
        z.writestr("q-app.toml", '[App]\nName = "ai.h2o.q8s.test.big"\nVersion = "0.1.0"\n')
        z.write(payload, "data.bin")
    reports: list[tuple[int, int]] = []

    def progress(sent: int, total: int) -> None:
        reports.append((sent, total))
        if 0 < sent < total:
            # Like Ctrl-C: the signal handler raises KeyboardInterrupt at the next check.
            _thread.interrupt_main()

    with pytest.raises(KeyboardInterrupt):
        client.import_bundle(big, progress=progress)
    sent, total = reports[-1]
    assert sent < total, "interrupted before the end"
    assert not [a for a in client.apps() if a.name == "ai.h2o.q8s.test.big"]


def test_follow_ends_when_the_instance_stops(client: q8s.Client, hello_app: q8s.App) -> None:
    instance = client.wait(client.run(hello_app), timeout=START_TIMEOUT)
    lines: list[str] = []
    follow = client.logs(instance, follow=True)
    reader = threading.Thread(target=lambda: lines.extend(follow))
    reader.start()
    time.sleep(0.5)
    client.terminate(instance)
    reader.join(timeout=30)
    assert not reader.is_alive(), "the follow ended with the instance"
    assert lines
    assert client.instance(instance).status is q8s.InstanceStatus.TERMINATED


def test_suspend_resume_terminate_and_delete(client: q8s.Client, tmp_path: Path) -> None:
    # Its own version of hello, so that deleting it leaves the module's app alone.
    app, instance = client.deploy(HELLO, timeout=START_TIMEOUT)
    assert client.suspend(instance).status is q8s.InstanceStatus.SUSPENDED
    assert client.wait(instance, "suspended", timeout=5).status == "SUSPENDED"
    client.resume(instance)
    assert client.wait(instance, timeout=START_TIMEOUT).status is q8s.InstanceStatus.RUNNING
    with pytest.raises(q8s.Conflict) as raised:
        client.delete_app(app)
    assert raised.value.code == "app-has-instances"
    client.terminate(instance)
    client.delete_app(app)
    with pytest.raises(q8s.NotFound):
        client.app(app)


def test_deploy_publishes_a_new_version_each_time_with_progress(client: q8s.Client) -> None:
    reports: list[tuple[int, int]] = []
    first = client.deploy(HELLO, progress=lambda sent, total: reports.append((sent, total)))
    app, instance = first
    assert app.version.startswith("0.1.0-") and len(app.version) == len("0.1.0-") + 14
    assert instance.status is q8s.InstanceStatus.RUNNING and instance.app_id == app.id
    assert reports and reports[-1] == (app.bundle.size, app.bundle.size)
    # Again at once: the same second gives the next second's version, never a conflict.
    second = client.deploy(HELLO, wait=False)
    assert second.app.version != app.version
    for d in (first, second):
        client.terminate(d.instance)
        client.delete_app(d.app)


def test_waiting_for_a_failed_instance_raises_with_its_log(
    client: q8s.Client, tmp_path: Path
) -> None:
    app_dir = tmp_path / "crash"
    app_dir.mkdir()
    (app_dir / "q-app.toml").write_text(
        '[App]\nName = "ai.h2o.q8s.test.crash"\nVersion = "0.1.0"\n[Runtime]\nModule = "crash"\n'
    )
    (app_dir / "requirements.txt").write_text("")
    (app_dir / "crash.py").write_text("import sys\nprint('about to fail')\nsys.exit(3)\n")
    with pytest.raises(q8s.InstanceError) as raised:
        client.deploy(app_dir, timeout=START_TIMEOUT)
    e = raised.value
    assert e.code == "instance-failed"
    assert e.instance.status is q8s.InstanceStatus.FAILED
    assert str(e).startswith(f"instance {e.instance.id} is FAILED")
    # The same crash five times is said once, with the line the app printed last.
    assert (
        "crashed 5 times in a row with the same error: app exited with code 3: about to fail"
        in str(e)
    ), str(e)
    assert any("about to fail" in line for line in e.log_tail)
    client.terminate(e.instance)
    client.delete_app(e.instance.app_id)


def test_a_failed_install_says_which_package_in_the_exception(client: q8s.Client) -> None:
    with pytest.raises(q8s.InstanceError) as raised:
        client.deploy(REPO / "tests" / "apps" / "fail-install", timeout=START_TIMEOUT)
    e = raised.value
    assert e.code == "instance-failed"
    # uv's own error, naming the package that does not exist, in the exception's message.
    assert "q8s-no-such-package-zzz was not found in the package registry" in str(e), str(e)
    client.terminate(e.instance)
    client.delete_app(e.instance.app_id)


def test_wait_times_out_as_an_api_error(client: q8s.Client, running: q8s.Instance) -> None:
    with pytest.raises(q8s.ApiError) as raised:
        client.wait(running, "SUSPENDED", timeout=0.5)
    assert raised.value.code == "timeout"


def test_jupyter_shows_apps_and_instances(
    client: q8s.Client, hello_app: q8s.App, running: q8s.Instance
) -> None:
    card = hello_app._repr_html_()
    assert "data:image/png;base64," in card, "the icon comes from the API"
    assert "Hello q8s" in card and hello_app.version in card
    html = running._repr_html_()
    assert f'href="{running.url}"' in html and "RUNNING" in html
    assert "Hello q8s" in client.apps()._repr_html_()
    assert running.url in client.instances()._repr_html_()


def test_cards_tell_the_truth_and_lists_leave_terminated_instances_out(
    client: q8s.Client, hello_bundle: q8s.Bundle, hello_app: q8s.App
) -> None:
    # Its own version of hello (deploy), so that terminating it leaves the module's app alone.
    app, instance = client.deploy(HELLO, timeout=START_TIMEOUT)
    # The app card made right after the deploy counts the instance it launched.
    assert app.instance_count == 1
    assert "1 instance (read " in app._repr_html_()
    # Cards are snapshots and say when they were read.
    assert f"read {app.read_at:%H:%M:%S} UTC" in app._repr_html_()
    assert app.read_at.tzinfo is not None
    # The instance card: the app's icon and Title (the Name is the small print).
    card = instance._repr_html_()
    assert "data:image/png;base64," in card, "the instance card shows the app's icon"
    assert '<b style="font-size:15px">Hello q8s</b>' in card
    assert f'href="{instance.url}"' in card
    assert f"read {instance.read_at:%H:%M:%S} UTC" in card
    # A terminated instance's URL answers 410: its card offers no link.
    client.terminate(instance)
    ended = client.instance(instance)
    assert f'href="{instance.url}"' not in ended._repr_html_()
    assert "(terminated)" in ended._repr_html_()

    # Lists: live instances by default, and how many terminated ones were left out.
    live = client.instances()
    assert instance.id not in [i.id for i in live]
    assert live.terminated_omitted >= 1
    assert "terminated instance" in live._repr_html_()
    every = client.instances(status="all")
    assert instance.id in [i.id for i in every] and every.terminated_omitted == 0
    assert [i.id for i in client.instances(status="TERMINATED")][0] == instance.id, "newest first"
    with pytest.raises(ValueError, match="live, all, or statuses"):
        client.instances(status="stopped")
    # Apps: the latest version of each Name unless all_versions.
    versions = [a.version for a in client.apps(name=app.name, all_versions=True)]
    assert app.version in versions and len(versions) >= 2, versions
    assert [a.id for a in client.apps(name=app.name)] == [app.id]
    # limit: the first N, and `more` says whether others follow.
    first = client.apps(name=app.name, all_versions=True, limit=1)
    assert len(first) == 1 and first.more and first[0].version == versions[0]
    assert not client.apps(name=app.name, all_versions=True, limit=len(versions)).more
    assert not client.apps(name=app.name, all_versions=True).more
    newest = client.instances(status="all", limit=1)
    assert [i.id for i in newest] == [every[0].id] and newest.more == (len(every) > 1)
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="limit must be a positive whole number"):
            client.apps(limit=bad)  # type: ignore[arg-type]
    client.delete_app(app)

    # The inspect card of a .qz with an icon shows that icon, not a placeholder.
    assert "data:image/png;base64," in q8s.inspect(hello_bundle.path)._repr_html_()


def test_progress_true_prints_a_text_line_without_tqdm(
    client: q8s.Client,
    hello_bundle: q8s.Bundle,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "tqdm.auto", None)  # as if tqdm were not installed
    with pytest.raises(q8s.Conflict):
        client.import_bundle(hello_bundle, progress=True)
    err = capsys.readouterr().err
    assert "uploading 100%" in err


def test_progress_true_uses_tqdm_when_installed(
    client: q8s.Client, hello_bundle: q8s.Bundle, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("tqdm")
    with pytest.raises(q8s.Conflict):
        client.import_bundle(hello_bundle, progress=True)
    assert "uploading: 100%" in capsys.readouterr().err


def test_secrets_carry_who_may_use_them(client: q8s.Client) -> None:
    secret = client.set_secret("py-secret", {"token": "py-Value-never-shown"}, users=["admin"])
    assert secret == q8s.Secret(
        name="py-secret", keys=("token",), access=q8s.SecretAccess(users=("admin",), apps=None)
    )
    secret = client.set_secret_access("py-secret", users="ALL_USERS", apps=["ai.h2o.q8s.x"])
    assert secret.access == q8s.SecretAccess(users="ALL_USERS", apps=("ai.h2o.q8s.x",))
    # What is left out stays; replacing the values keeps the rule.
    secret = client.set_secret_access("py-secret", any_app=True)
    assert secret.access == q8s.SecretAccess(users="ALL_USERS", apps=None)
    secret = client.set_secret("py-secret", {"token": "2", "other": "3"})
    assert secret.keys == ("other", "token") and secret.access is not None
    assert secret.access.users == "ALL_USERS"
    listed = {s.name: s for s in client.secrets()}
    assert listed["py-secret"] == secret
    assert "py-Value-never-shown" not in repr(client.secrets())

    with pytest.raises(q8s.ApiError) as raised:
        client.set_secret("py-secret", {})
    assert (raised.value.status, raised.value.code) == (422, "empty-secret")
    with pytest.raises(q8s.ApiError) as raised:
        client.set_secret_access("py-secret", users=["nobody-here"])
    assert raised.value.code == "invalid-secret-access"
    with pytest.raises(q8s.NotFound):
        client.set_secret_access("py-no-such-secret", users="ALL_USERS")
    with pytest.raises(ValueError, match="ALL_USERS"):
        client.set_secret_access("py-secret", users="EVERYONE")
    with pytest.raises(ValueError, match="not both"):
        client.set_secret_access("py-secret", apps=["a"], any_app=True)
    client.delete_secret("py-secret")
    assert "py-secret" not in {s.name for s in client.secrets()}


def test_a_launch_naming_a_secret_kept_for_another_app_is_forbidden(
    client: q8s.Client, tmp_path: Path
) -> None:
    app_dir = tmp_path / "kept"
    app_dir.mkdir()
    (app_dir / "q-app.toml").write_text(
        '[App]\nName = "ai.h2o.q8s.py-secret-kept"\nVersion = "0.1.0"\n\n'
        '[Runtime]\nModule = "kept"\n\n'
        '[[Env]]\nName = "TOKEN"\nSecret = "py-kept"\nSecretKey = "token"\n'
    )
    (app_dir / "kept.py").write_text("print('never started')\n")
    client.set_secret("py-kept", {"token": "py-Kept-value"}, apps=["ai.h2o.q8s.elsewhere"])
    app = client.import_bundle(app_dir)
    # The app rule binds admins too.
    with pytest.raises(q8s.Forbidden) as raised:
        client.run(app)
    assert raised.value.code == "secret-forbidden"
    assert raised.value.details == ({"secret": "py-kept"},)
    assert "`py-kept`" in str(raised.value) and "py-Kept-value" not in str(raised.value)
    assert "q8s-cli admin secret access" in str(raised.value)
    assert not [i for i in client.instances() if i.app_id == app.id]
    client.delete_app(app)
    client.delete_secret("py-kept")
