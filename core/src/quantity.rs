//! Kubernetes resource quantities (`500Mi`, `1G`, `1.5Gi`, `1e3`, `400m`).
