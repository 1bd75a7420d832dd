//! The layers of settings: a TOML file (`--config`) read as [`Settings`], and one set of
//! settings over another (flags and `Q8S_SERVER_*` variables, which clap merges, over the
//! file).

use std::path::Path;

use super::Settings;

impl Settings {
    /// Reads a TOML settings file (keys as the flags: `listen`, `data-dir`, …).
    pub fn from_file(path: &Path) -> anyhow::Result<Settings> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
        toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
    }

    /// `self` where set, `lower` elsewhere.
    pub fn over(self, lower: Settings) -> Settings {
        Settings {
            listen: self.listen.or(lower.listen),
            data_dir: self.data_dir.or(lower.data_dir),
            domain: self.domain.or(lower.domain),
            database: self.database.or(lower.database),
            blob_store: self.blob_store.or(lower.blob_store),
            runtime: self.runtime.or(lower.runtime),
            max_bundle_size: self.max_bundle_size.or(lower.max_bundle_size),
            memory_capacity: self.memory_capacity.or(lower.memory_capacity),
            log_format: self.log_format.or(lower.log_format),
            device_code_lifetime: self.device_code_lifetime.or(lower.device_code_lifetime),
            web_dir: self.web_dir.or(lower.web_dir),
            proxy_cache: self.proxy_cache.or(lower.proxy_cache),
            instance_network: self.instance_network.or(lower.instance_network),
            sandbox_user: self.sandbox_user.or(lower.sandbox_user),
            max_unpacked: self.max_unpacked.or(lower.max_unpacked),
            max_pids: self.max_pids.or(lower.max_pids),
            gc_interval: self.gc_interval.or(lower.gc_interval),
            reconcile_interval: self.reconcile_interval.or(lower.reconcile_interval),
            sign_in_attempts: self.sign_in_attempts.or(lower.sign_in_attempts),
            sign_in_window: self.sign_in_window.or(lower.sign_in_window),
            header_timeout: self.header_timeout.or(lower.header_timeout),
            max_connections: self.max_connections.or(lower.max_connections),
            constraints: self.constraints.or(lower.constraints),
            sandbox_paths: self.sandbox_paths.or(lower.sandbox_paths),
            start_timeout: self.start_timeout.or(lower.start_timeout),
            database_max_connections: self
                .database_max_connections
                .or(lower.database_max_connections),
            database_timeout: self.database_timeout.or(lower.database_timeout),
            blob_cache: self.blob_cache.or(lower.blob_cache),
            blob_grace: self.blob_grace.or(lower.blob_grace),
            node_name: self.node_name.or(lower.node_name),
            advertise_url: self.advertise_url.or(lower.advertise_url),
            node_timeout: self.node_timeout.or(lower.node_timeout),
            trusted_proxies: self.trusted_proxies.or(lower.trusted_proxies),
            public_url: self.public_url.or(lower.public_url),
            idle_suspend: self.idle_suspend.or(lower.idle_suspend),
            kubeconfig: self.kubeconfig.or(lower.kubeconfig),
            kubernetes_namespace: self.kubernetes_namespace.or(lower.kubernetes_namespace),
            kubernetes_image: self.kubernetes_image.or(lower.kubernetes_image),
            kubernetes_server_url: self.kubernetes_server_url.or(lower.kubernetes_server_url),
            kubernetes_storage_class: self
                .kubernetes_storage_class
                .or(lower.kubernetes_storage_class),
            kubernetes_node_selector: self
                .kubernetes_node_selector
                .or(lower.kubernetes_node_selector),
            kubernetes_server_labels: self
                .kubernetes_server_labels
                .or(lower.kubernetes_server_labels),
            kubernetes_server_namespace: self
                .kubernetes_server_namespace
                .or(lower.kubernetes_server_namespace),
            bundle_token_lifetime: self.bundle_token_lifetime.or(lower.bundle_token_lifetime),
            kubernetes_cpu_request: self.kubernetes_cpu_request.or(lower.kubernetes_cpu_request),
            kubernetes_ephemeral_storage: self
                .kubernetes_ephemeral_storage
                .or(lower.kubernetes_ephemeral_storage),
            kubernetes_egress_denied: self
                .kubernetes_egress_denied
                .or(lower.kubernetes_egress_denied),
            kubernetes_dns_pods: self.kubernetes_dns_pods.or(lower.kubernetes_dns_pods),
        }
    }
}
