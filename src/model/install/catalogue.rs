//! The models Strata can install, each pinned to one hub revision.
//!
//! SKELETON (lead): H-A owns this file.

/// One installable model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InstallableModel {
    /// Folder and CLI name, e.g. `mert-v1-95m`.
    pub name: &'static str,
}
