//! The models Strata can install, each pinned to one hub revision.
//!
//! A revision is a commit of the hub repository, so the bytes downloaded today
//! are the bytes the architecture was checked against; moving to a newer
//! commit is a code change. Nothing here opens a connection ([`super::hub`] does).

/// The licence of every MERT-v1 checkpoint.
const MERT_LICENSE: &str = "CC-BY-NC-4.0";
const MERT_LICENSE_SUMMARY: &str = "Creative Commons Attribution-NonCommercial 4.0: you may use, share and adapt the weights \
     for non-commercial purposes only, crediting the authors (Li et al., MERT, m-a-p).";
const MERT_LICENSE_URL: &str = "https://creativecommons.org/licenses/by-nc/4.0/";

/// One installable model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InstallableModel {
    /// Folder and CLI name, e.g. `mert-v1-95m`.
    pub name: &'static str,
    /// Name shown to users.
    pub display_name: &'static str,
    /// Hugging Face hub repository, `owner/name`.
    pub hf_repo: &'static str,
    /// The pinned commit of that repository.
    pub revision: &'static str,
    /// SPDX identifier of the weights' licence.
    pub license: &'static str,
    /// What the licence allows, in one or two sentences shown before consent.
    pub license_summary: &'static str,
    /// Where the licence's full text is.
    pub license_url: &'static str,
    /// About how many bytes the download is (the weights file dominates).
    pub download_bytes: u64,
    /// Hidden states the model exposes (the CNN features and every transformer layer).
    pub layers: usize,
    /// Installable by name but left out of listings (the test model).
    pub hidden: bool,
}

impl InstallableModel {
    /// The licence as shown before asking for consent: name, summary, link.
    pub fn license_notice(&self) -> String {
        format!(
            "{} is licensed {}{}.\n{}\nFull text: {}\nWeights: {} (revision {}).",
            self.display_name,
            self.license,
            if self.license.contains("-NC") { " (non-commercial)" } else { "" },
            self.license_summary,
            self.license_url,
            self.page_url(),
            self.revision
        )
    }

    /// The model's page on the Hugging Face hub, for people to read (Strata downloads through [`super::hub`]).
    pub fn page_url(&self) -> String {
        format!("https://huggingface.co/{}", self.hf_repo)
    }
}

/// The checkpoint's files: the configuration, then the weights in the order
/// they are preferred (safetensors is read in place; the pickle zip is the fallback).
pub const CONFIG_FILE: &str = "config.json";
/// Weights files a checkpoint may have, preferred first.
pub const WEIGHT_FILES: [&str; 2] = ["model.safetensors", "pytorch_model.bin"];

// Pins: the 95M commit is the one many projects pin and cache
// (`models--m-a-p--MERT-v1-95M/snapshots/12af15f…`, whose pytorch_model.bin is
// 378 MB); the 330M one is the newest pin found in public code (its main branch
// could not be read from here). Either 404s clearly if the hub ever drops it.
const INSTALLABLE: [InstallableModel; 3] = [
    InstallableModel {
        name: "mert-v1-95m",
        display_name: "MERT-v1-95M",
        hf_repo: "m-a-p/MERT-v1-95M",
        revision: "12af15fef9d0ac838c3f475bfbbf26d2060dd4f5",
        license: MERT_LICENSE,
        license_summary: MERT_LICENSE_SUMMARY,
        license_url: MERT_LICENSE_URL,
        download_bytes: 378_000_000,
        layers: 13,
        hidden: false,
    },
    InstallableModel {
        name: "mert-v1-330m",
        display_name: "MERT-v1-330M",
        hf_repo: "m-a-p/MERT-v1-330M",
        revision: "5240c2708a5acaee1007f43fb9735c7dcd0b78c9",
        license: MERT_LICENSE,
        license_summary: MERT_LICENSE_SUMMARY,
        license_url: MERT_LICENSE_URL,
        download_bytes: 1_260_000_000,
        layers: 25,
        hidden: false,
    },
    // A two-layer random-init MERT whose checkpoints live in
    // tests/fixtures/mert-tiny-checkpoint; the tests serve it from a loopback hub.
    InstallableModel {
        name: "mert-tiny",
        display_name: "MERT tiny (test fixture)",
        hf_repo: "strata-tests/mert-tiny",
        revision: "0123456789abcdef0123456789abcdef01234567",
        license: "CC0-1.0",
        license_summary: "Random weights made by models/export_mert.py for Strata's tests; no rights reserved.",
        license_url: "https://creativecommons.org/publicdomain/zero/1.0/",
        download_bytes: 300_000,
        layers: 3,
        hidden: true,
    },
];

/// Every model `strata models install` knows, hidden ones included.
pub fn installable() -> &'static [InstallableModel] {
    &INSTALLABLE
}

/// The installable model called `name`, if there is one.
pub fn find(name: &str) -> Option<&'static InstallableModel> {
    INSTALLABLE.iter().find(|model| model.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_model_is_pinned_to_a_commit_and_found_by_its_name() {
        for model in installable() {
            assert_eq!(model.revision.len(), 40, "{}", model.name);
            assert!(model.revision.chars().all(|c| c.is_ascii_hexdigit()), "{}", model.name);
            assert_eq!(find(model.name), Some(model));
            assert!(model.license_notice().contains(model.license_url));
        }
        assert_eq!(find("musicnn"), None);
        assert_eq!(installable().iter().filter(|m| !m.hidden).map(|m| m.name).collect::<Vec<_>>(), ["mert-v1-95m", "mert-v1-330m"]);
    }
}
