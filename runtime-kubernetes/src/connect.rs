//! A [`kube::Client`] from the operator's configuration: a kubeconfig file when one is named,
//! otherwise what `kube` infers (the pod's service account inside a cluster, else
//! `$KUBECONFIG` or `~/.kube/config`).

use std::path::Path;

use q8s_runtime::RuntimeError;

/// A client of the cluster `kubeconfig` names (its current context), or of the inferred one.
/// Errors say which file or what was tried.
pub async fn client(kubeconfig: Option<&Path>) -> Result<kube::Client, RuntimeError> {
    let invalid = |what: String| RuntimeError::Io {
        context: "the Kubernetes runtime's configuration".into(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidInput, what),
    };
    let config = match kubeconfig {
        Some(path) => {
            let file = kube::config::Kubeconfig::read_from(path)
                .map_err(|e| invalid(format!("{}: {e}", path.display())))?;
            let options = kube::config::KubeConfigOptions::default();
            kube::Config::from_custom_kubeconfig(file, &options)
                .await
                .map_err(|e| invalid(format!("{}: {e}", path.display())))?
        }
        None => kube::Config::infer()
            .await
            .map_err(|e| invalid(format!("no in-cluster configuration or kubeconfig: {e}")))?,
    };
    kube::Client::try_from(config).map_err(|e| invalid(format!("a client: {e}")))
}
