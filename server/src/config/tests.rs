use super::*;

#[test]
fn the_fake_runtime_is_a_hidden_choice_and_reconciling_has_an_interval() {
    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        settings: Settings,
    }
    use clap::{CommandFactory, Parser};
    let args = [
        "q8s-server",
        "--runtime",
        "fake",
        "--reconcile-interval",
        "5",
    ];
    let settings = Cli::try_parse_from(args).unwrap().settings;
    assert_eq!(settings.runtime, Some(RuntimeKind::Fake));
    let config = Config::resolve(settings).unwrap();
    assert_eq!(config.reconcile_interval.as_secs(), 5);
    let help = Cli::command().render_long_help().to_string();
    assert!(help.contains("--reconcile-interval"), "{help}");
    assert!(
        help.contains("kubernetes") && !help.contains("fake"),
        "{help}"
    );
}

#[test]
fn sizes_parse_with_and_without_units() {
    assert_eq!("1048576".parse::<ByteSize>(), Ok(ByteSize(1 << 20)));
    assert_eq!("1Gi".parse::<ByteSize>(), Ok(ByteSize(1 << 30)));
    assert_eq!("500M".parse::<ByteSize>(), Ok(ByteSize(500_000_000)));
    assert_eq!("2MiB".parse::<ByteSize>(), Ok(ByteSize(2 << 20)));
    assert!("1Qi".parse::<ByteSize>().is_err());
    assert!("Gi".parse::<ByteSize>().is_err());
    assert!("99999999999999Ti".parse::<ByteSize>().is_err());
}

#[test]
fn defaults_follow_the_design() {
    let c = Config::resolve(Settings::default()).unwrap();
    assert_eq!(c.listen.to_string(), "127.0.0.1:8008");
    assert!(c.data_dir.ends_with("q8s-data") && c.data_dir.is_absolute());
    assert_eq!(c.domain, "localhost");
    assert!(c.database.starts_with("sqlite://") && c.database.ends_with("q8s.db"));
    assert_eq!(c.max_bundle_size, 1 << 30);
    assert_eq!(c.max_unpacked, 2 << 30);
    assert_eq!(c.archive_limits().max_total_size, 2 << 30);
    assert_eq!(c.base_url(), "http://localhost:8008");
    assert_eq!(c.max_pids, 1024);
    assert_eq!(c.gc_interval.as_secs(), 30);
    assert_eq!(c.reconcile_interval.as_secs(), 30);
    assert_eq!((c.sign_in_attempts, c.sign_in_window), (10, 900));
    assert_eq!(c.header_timeout, std::time::Duration::from_secs(15));
    assert!((16..=10_000).contains(&c.max_connections));
}

#[test]
fn flags_win_over_the_file() {
    let file: Settings = toml::from_str(
        "listen = \"127.0.0.1:9000\"\ndomain = \"apps.test\"\nmax-bundle-size = \"10Mi\"",
    )
    .unwrap();
    let flags = Settings {
        domain: Some("other.test".into()),
        ..Settings::default()
    };
    let c = Config::resolve(flags.over(file)).unwrap();
    assert_eq!(c.listen.port(), 9000);
    assert_eq!(c.domain, "other.test");
    assert_eq!(c.max_bundle_size, 10 << 20);
    assert!(toml::from_str::<Settings>("typo = 1").is_err());
}

#[test]
fn the_memory_ceiling_is_the_capacity_or_the_machines_memory() {
    let mut c = Config::resolve(Settings::default()).unwrap();
    let machine = c
        .instance_memory_ceiling()
        .expect("Linux has /proc/meminfo");
    assert!(machine > 64 << 20, "{machine}");
    c.memory_capacity = Some(1 << 30);
    assert_eq!(c.instance_memory_ceiling(), Some(1 << 30));
}

#[test]
fn an_admins_constraints_come_after_the_builtin_ones_and_bad_files_stop_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.toml");
    std::fs::write(
        &good,
        "version = 'site-1'\n[[rule]]\npins = ['numpy<2']\nwhy = 'our wheels'\n",
    )
    .unwrap();
    let settings = Settings {
        constraints: Some(good.clone()),
        ..Settings::default()
    };
    let c = Config::resolve(settings).unwrap();
    assert_eq!(c.constraints.sources.len(), 2);
    assert!(c.constraints.sources[1].ends_with("good.toml site-1"));
    assert_eq!(c.constraints.unconditional()[0].pins, ["numpy<2"]);

    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "version = 'x'\n[[rule]]\npins = []\nwhy = 'w'\n").unwrap();
    for (file, expected) in [
        (bad, "bad.toml: rule 1: `pins` is empty"),
        (dir.path().join("none.toml"), "none.toml: No such file"),
    ] {
        let settings = Settings {
            constraints: Some(file),
            ..Settings::default()
        };
        let err = Config::resolve(settings).unwrap_err().to_string();
        assert!(
            err.starts_with("--constraints: ") && err.contains(expected),
            "{err}"
        );
    }
}

#[test]
fn sandbox_paths_are_absolute_existing_and_away_from_the_data() {
    let data = tempfile::tempdir().unwrap();
    let cases = [
        ("relative/path", "is not an absolute path"),
        ("/nonexistent-q8s-path", "No such file"),
        ("/", "would show the data directory"),
    ];
    let inside = data.path().join("blobs");
    std::fs::create_dir(&inside).unwrap();
    let inside = inside.display().to_string();
    for (path, expected) in cases.into_iter().chain([(inside.as_str(), "would show")]) {
        let settings = Settings {
            data_dir: Some(data.path().to_owned()),
            sandbox_paths: Some(vec![PathBuf::from(path)]),
            ..Settings::default()
        };
        let err = Config::resolve(settings).unwrap_err().to_string();
        assert!(err.contains(expected), "{path}: {err}");
    }
    let settings = Settings {
        data_dir: Some(data.path().to_owned()),
        sandbox_paths: Some(vec![PathBuf::from("/usr/share")]),
        ..Settings::default()
    };
    let c = Config::resolve(settings).unwrap();
    assert_eq!(c.sandbox_paths, [PathBuf::from("/usr/share")]);
}

#[test]
fn the_blob_cache_and_grace_have_defaults_and_file_keys() {
    let c = Config::resolve(Settings::default()).unwrap();
    assert!(c.blob_store.starts_with("file://") && c.blob_store.ends_with("blobs"));
    assert_eq!(c.blob_cache, 4 << 30);
    assert_eq!(c.blob_grace.as_secs(), 3600);
    let file: Settings = toml::from_str(
        "blob-store = \"s3://bundles?region=eu-west-1\"\nblob-cache = \"10Gi\"\nblob-grace = 60",
    )
    .unwrap();
    let c = Config::resolve(Settings::default().over(file)).unwrap();
    assert_eq!(c.blob_store, "s3://bundles?region=eu-west-1");
    assert_eq!(c.blob_cache, 10 << 30);
    assert_eq!(c.blob_grace.as_secs(), 60);
}

#[test]
fn trusted_proxies_name_the_client_only_for_their_own_requests() {
    use axum::http::HeaderMap;
    let proxies = TrustedProxies::parse(&["10.0.0.0/8".into(), " 192.0.2.7 ".into()]).unwrap();
    let headers = |xff: &str| {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", xff.parse().unwrap());
        h
    };
    let ip = |text: &str| text.parse::<std::net::IpAddr>().unwrap();
    // Not from a proxy: the header means nothing.
    assert_eq!(
        proxies.client(ip("198.51.100.1"), &headers("203.0.113.5")),
        ip("198.51.100.1")
    );
    // From a proxy: the rightmost hop that is not a proxy.
    assert_eq!(
        proxies.client(ip("10.1.2.3"), &headers("203.0.113.5")),
        ip("203.0.113.5")
    );
    assert_eq!(
        proxies.client(ip("10.1.2.3"), &headers("1.1.1.1, 203.0.113.5, 192.0.2.7")),
        ip("203.0.113.5")
    );
    // Garbage ends the walk; no header: the proxy itself.
    assert_eq!(
        proxies.client(ip("10.1.2.3"), &headers("nonsense")),
        ip("10.1.2.3")
    );
    assert_eq!(
        proxies.client(ip("10.1.2.3"), &HeaderMap::new()),
        ip("10.1.2.3")
    );
    assert_eq!(
        proxies.client(ip("::ffff:10.1.2.3"), &headers("203.0.113.5")),
        ip("203.0.113.5")
    );
    assert!(TrustedProxies::parse(&["10.0.0.0/33".into()]).is_err());
    assert!(TrustedProxies::parse(&["example.com".into()]).is_err());
}

#[test]
fn a_public_url_names_the_site_and_the_instances() {
    let resolve = |args: &[&str]| {
        let mut settings = Settings::default();
        for pair in args.chunks(2) {
            match pair[0] {
                "public-url" => settings.public_url = Some(pair[1].into()),
                "domain" => settings.domain = Some(pair[1].into()),
                _ => unreachable!(),
            }
        }
        Config::resolve(settings)
    };
    let id = Uuid::nil();
    let config = resolve(&["public-url", "https://Q8S.example.com/"]).unwrap();
    assert_eq!(config.domain, "q8s.example.com");
    assert_eq!(config.base_url(), "https://q8s.example.com");
    assert_eq!(
        config.instance_url(id),
        format!("https://{id}.q8s.example.com/")
    );
    let config = resolve(&[
        "public-url",
        "http://apps.example.com:8080",
        "domain",
        "apps.example.com",
    ])
    .unwrap();
    assert_eq!(config.base_url(), "http://apps.example.com:8080");
    // Without it: the listen port, as before.
    let config = resolve(&[]).unwrap();
    assert_eq!(config.base_url(), "http://localhost:8008");
    assert_eq!(
        config.instance_url(id),
        format!("http://{id}.localhost:8008/")
    );
    for bad in [
        "ftp://q8s.example.com",
        "https://10.0.0.1",
        "https://q8s.example.com/q8s",
        "not a url",
    ] {
        assert!(resolve(&["public-url", bad]).is_err(), "{bad}");
    }
    let err = resolve(&[
        "public-url",
        "https://a.example.com",
        "domain",
        "b.example.com",
    ]);
    assert!(err.unwrap_err().to_string().contains("must be the same"));
}

#[test]
fn instances_may_reserve_all_but_room_for_the_host() {
    const GI: u64 = 1 << 30;
    // A sixteenth on a large machine, 1 GiB on a small one, never more than half.
    assert_eq!(default_memory_capacity(24 * GI), 24 * GI - 24 * GI / 16);
    assert_eq!(default_memory_capacity(8 * GI), 7 * GI);
    assert_eq!(default_memory_capacity(GI + GI / 2), (GI + GI / 2) / 2);
}
