//! Bundles: building a `.qz` from an app folder, checking what a bundle
//! holds, and deploy versions.
