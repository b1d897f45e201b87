//! Downloading a checkpoint from the Hugging Face hub at a pinned revision.
//!
//! The only module in Strata that opens a network connection. `hf-hub` gives
//! the hub's URL layout (`<endpoint>/<repo>/resolve/<revision>/<file>`) and
//! reads `HF_ENDPOINT`; its sync downloader is not used because it cannot be
//! cancelled, ignores `NO_PROXY`, waits 30 s on an unreachable host, and
//! appends whatever a resumed request returns without checking it is the
//! requested range. The transfer here uses hf-hub's own HTTP client (ureq 2):
//! a HEAD for the size and hash, then a `Range` GET appending to `<file>.part`,
//! renamed to `<file>` once its size (and, for large files, its SHA-256) match.
//! An interrupted download leaves the `.part` file; the next run resumes it.

use super::InstallProgress;
use super::catalogue::{CONFIG_FILE, WEIGHT_FILES};
use sha2::Digest;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::Duration;

/// How long to wait for a connection: an offline machine must hear so at once.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a stalled transfer waits for its next bytes before giving up (the `.part` file keeps what came).
const READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Redirects followed per request (the hub sends LFS files to a CDN).
const MAX_REDIRECTS: usize = 5;
/// Bytes read between two checks of `cancel`.
const CHUNK_BYTES: usize = 256 * 1024;

/// Why a download failed.
#[derive(Debug, thiserror::Error)]
pub enum HubError {
    /// No connection could be made (offline, DNS failure, refused, proxy down).
    #[error("cannot reach the hub at {endpoint} ({reason}); download the checkpoint yourself and use --from PATH")]
    Unreachable {
        /// The endpoint tried.
        endpoint: String,
        /// What the network layer said.
        reason: String,
    },
    /// The hub answered with an error status.
    #[error("the hub answered {status} for {url}")]
    Status {
        /// The URL requested.
        url: String,
        /// Its HTTP status.
        status: u16,
    },
    /// The repository has none of the files a checkpoint needs.
    #[error("{repo} at revision {revision} has no {file}")]
    Missing {
        /// Repository.
        repo: String,
        /// Revision.
        revision: String,
        /// What is missing, in words.
        file: String,
    },
    /// The hub's answer lacked what a download needs (a size, a consistent range).
    #[error("unexpected answer from the hub for {url}: {reason}")]
    Protocol {
        /// The URL requested.
        url: String,
        /// What was wrong.
        reason: String,
    },
    /// The transfer stopped part way; what came is kept for the next run.
    #[error("download of {file} interrupted at {done_bytes} of {total_bytes} bytes ({reason}); run the same command again to resume")]
    Interrupted {
        /// The file being downloaded.
        file: String,
        /// Bytes kept in its `.part` file.
        done_bytes: u64,
        /// Its full size.
        total_bytes: u64,
        /// What stopped it.
        reason: String,
    },
    /// The downloaded bytes are not the file the hub described; they were deleted.
    #[error("{file} is corrupt (SHA-256 {found}, the hub says {expected}); it was deleted, run the same command again")]
    Corrupt {
        /// The file.
        file: String,
        /// The hash of what arrived.
        found: String,
        /// The hash the hub announced.
        expected: String,
    },
    /// `cancel` was set.
    #[error("cancelled")]
    Cancelled,
    /// Writing the download folder failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> HubError + '_ {
    move |source| HubError::Io { path: path.to_path_buf(), source }
}

/// A checkpoint downloaded into one folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownloadedCheckpoint {
    /// The folder holding both files.
    pub dir: PathBuf,
    /// Its `config.json`.
    pub config: PathBuf,
    /// Its weights file (`model.safetensors` or `pytorch_model.bin`).
    pub weights: PathBuf,
    /// The commit the hub said it served (`X-Repo-Commit`), when it said.
    pub commit: Option<String>,
    /// Bytes transferred by this call (0 when everything was already there).
    pub fetched_bytes: u64,
}

/// What a HEAD said about one file.
#[derive(Debug)]
struct FileHead {
    size_bytes: u64,
    /// SHA-256 of the content, when the hub gave one (LFS files' linked ETag).
    sha256: Option<String>,
    commit: Option<String>,
}

/// A connection to one hub endpoint.
#[derive(Debug)]
pub struct Hub {
    endpoint: String,
    api: hf_hub::api::sync::Api,
}

impl Hub {
    /// The hub at `HF_ENDPOINT`, else huggingface.co.
    pub fn from_env() -> Result<Self, HubError> {
        Self::build(hf_hub::api::sync::ApiBuilder::from_env())
    }

    /// The hub (or a mirror) at `endpoint`, e.g. `http://127.0.0.1:8080`.
    pub fn with_endpoint(endpoint: &str) -> Result<Self, HubError> {
        Self::build(hf_hub::api::sync::ApiBuilder::from_env().with_endpoint(endpoint.trim_end_matches('/').to_string()))
    }

    fn build(builder: hf_hub::api::sync::ApiBuilder) -> Result<Self, HubError> {
        let api = builder
            .with_progress(false)
            .build()
            .map_err(|e| HubError::Unreachable { endpoint: "the hub".into(), reason: e.to_string() })?;
        // hf-hub keeps its endpoint private; its URL for a probe file names it.
        let probe_url = api.model("r".into()).url("f");
        let endpoint = probe_url.strip_suffix("/r/resolve/main/f").unwrap_or(&probe_url).to_string();
        Ok(Self { endpoint, api })
    }

    /// The endpoint's base URL.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The URL of `file` in `repo` at `revision`.
    pub fn file_url(&self, repo: &str, revision: &str, file: &str) -> String {
        let repo = hf_hub::Repo::with_revision(repo.to_string(), hf_hub::RepoType::Model, revision.to_string());
        self.api.repo(repo).url(file)
    }

    /// Downloads `config.json` and the preferred weights file the repository has
    /// into `into`, resuming `.part` files left by an earlier run.
    pub fn download_checkpoint(
        &self,
        into: &Path,
        repo: &str,
        revision: &str,
        progress: &InstallProgress,
    ) -> Result<DownloadedCheckpoint, HubError> {
        std::fs::create_dir_all(into).map_err(io_error(into))?;
        let missing = |file: &str| HubError::Missing { repo: repo.into(), revision: revision.into(), file: file.into() };
        let (config, config_bytes, _) =
            self.download_file(into, repo, revision, CONFIG_FILE, progress)?.ok_or_else(|| missing(CONFIG_FILE))?;
        for file in WEIGHT_FILES {
            if let Some((weights, weights_bytes, commit)) = self.download_file(into, repo, revision, file, progress)? {
                return Ok(DownloadedCheckpoint {
                    dir: into.to_path_buf(),
                    config,
                    weights,
                    commit,
                    fetched_bytes: config_bytes + weights_bytes,
                });
            }
        }
        Err(missing(&WEIGHT_FILES.join(" or ")))
    }

    /// Downloads one file; `None` when the repository does not have it.
    /// Returns its path, the bytes transferred now, and the commit the hub named.
    fn download_file(
        &self,
        into: &Path,
        repo: &str,
        revision: &str,
        file: &str,
        progress: &InstallProgress,
    ) -> Result<Option<(PathBuf, u64, Option<String>)>, HubError> {
        let url = self.file_url(repo, revision, file);
        let Some(head) = self.head(&url)? else { return Ok(None) };
        let done_path = into.join(file);
        if std::fs::metadata(&done_path).is_ok_and(|m| m.len() == head.size_bytes) {
            return Ok(Some((done_path, 0, head.commit)));
        }
        let part_path = into.join(format!("{file}.part"));
        let fetched = self.fetch_into_part(&url, file, &part_path, head.size_bytes, progress)?;
        if let Some(expected) = &head.sha256 {
            progress.set_stage(&format!("checking {file}"));
            let found = sha256_hex(&part_path)?;
            if &found != expected {
                // A resumed download that does not hash right cannot be repaired in place.
                std::fs::remove_file(&part_path).map_err(io_error(&part_path))?;
                return Err(HubError::Corrupt { file: file.into(), found, expected: expected.clone() });
            }
        }
        std::fs::rename(&part_path, &done_path).map_err(io_error(&done_path))?;
        Ok(Some((done_path, fetched, head.commit)))
    }

    /// Brings `part_path` to `size_bytes`, asking only for the bytes it lacks; returns the bytes transferred.
    fn fetch_into_part(
        &self,
        url: &str,
        file: &str,
        part_path: &Path,
        size_bytes: u64,
        progress: &InstallProgress,
    ) -> Result<u64, HubError> {
        let mut start = std::fs::metadata(part_path).map(|m| m.len()).unwrap_or(0);
        if start > size_bytes {
            start = 0;
        }
        progress.set_stage(&format!("downloading {file}"));
        progress.total.store(size_bytes, Ordering::Relaxed);
        progress.done.store(start, Ordering::Relaxed);
        if start == size_bytes {
            return Ok(0);
        }
        let response = self.send("GET", url, Some(start))?;
        let status = response.status();
        let mut part = std::fs::OpenOptions::new().create(true).append(true).open(part_path).map_err(io_error(part_path))?;
        if status == 206 {
            let range = response.header("Content-Range").unwrap_or("");
            if !range.starts_with(&format!("bytes {start}-")) {
                return Err(HubError::Protocol { url: url.into(), reason: format!("asked for bytes {start}- and got range '{range}'") });
            }
            part.set_len(start).map_err(io_error(part_path))?;
        } else {
            // The server sent the whole file: start over.
            start = 0;
            part.set_len(0).map_err(io_error(part_path))?;
            progress.done.store(0, Ordering::Relaxed);
        }
        let mut body = response.into_reader();
        let mut buffer = vec![0u8; CHUNK_BYTES];
        let mut written = start;
        let interrupted = |written: u64, reason: String| HubError::Interrupted {
            file: file.into(),
            done_bytes: written,
            total_bytes: size_bytes,
            reason,
        };
        while written < size_bytes {
            if progress.cancel.load(Ordering::Relaxed) {
                return Err(HubError::Cancelled);
            }
            let read = match body.read(&mut buffer) {
                Ok(0) => return Err(interrupted(written, "the connection closed early".into())),
                Ok(read) => read,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(interrupted(written, e.to_string())),
            };
            let Some(chunk) = buffer.get(..read.min(usize::try_from(size_bytes - written).unwrap_or(usize::MAX))) else {
                continue;
            };
            part.write_all(chunk).map_err(io_error(part_path))?;
            written += chunk.len() as u64;
            progress.done.store(written, Ordering::Relaxed);
        }
        part.sync_all().map_err(io_error(part_path))?;
        Ok(written - start)
    }

    /// Size, hash and commit of the file at `url`; `None` when the hub has no such file.
    fn head(&self, url: &str) -> Result<Option<FileHead>, HubError> {
        let mut target = url.to_string();
        for _ in 0..=MAX_REDIRECTS {
            let response = match self.request("HEAD", &target, None) {
                Ok(response) => response,
                Err(e) if matches!(*e, ureq::Error::Status(404, _)) => return Ok(None),
                Err(e) => return Err(self.classify(&target, e)),
            };
            let header = |name: &str| response.header(name).map(|v| v.trim_matches('"').to_string());
            // The hub answers an LFS file with a redirect carrying the file's own size and hash.
            let size = header("X-Linked-Size").or_else(|| if response.status() < 300 { header("Content-Length") } else { None });
            if let Some(size) = size {
                let size_bytes =
                    size.parse().map_err(|_| HubError::Protocol { url: url.into(), reason: format!("size '{size}' is not a number") })?;
                let etag = header("X-Linked-Etag").or_else(|| header("ETag"));
                let sha256 = etag.filter(|e| e.len() == 64 && e.chars().all(|c| c.is_ascii_hexdigit())).map(|e| e.to_ascii_lowercase());
                return Ok(Some(FileHead { size_bytes, sha256, commit: header("X-Repo-Commit") }));
            }
            match response.header("Location") {
                Some(location) if (300..400).contains(&response.status()) => target = resolve_location(&target, location),
                _ => return Err(HubError::Protocol { url: url.into(), reason: "no size (Content-Length or X-Linked-Size) given".into() }),
            }
        }
        Err(HubError::Protocol { url: url.into(), reason: format!("more than {MAX_REDIRECTS} redirects") })
    }

    /// A request following redirects by hand, so each hop picks its proxy from `NO_PROXY`.
    fn send(&self, method: &str, url: &str, range_start: Option<u64>) -> Result<ureq::Response, HubError> {
        let mut target = url.to_string();
        for _ in 0..=MAX_REDIRECTS {
            let response = self.request(method, &target, range_start).map_err(|e| self.classify(&target, e))?;
            match response.header("Location") {
                Some(location) if (300..400).contains(&response.status()) => target = resolve_location(&target, location),
                _ => return Ok(response),
            }
        }
        Err(HubError::Protocol { url: url.into(), reason: format!("more than {MAX_REDIRECTS} redirects") })
    }

    fn request(&self, method: &str, url: &str, range_start: Option<u64>) -> Result<ureq::Response, Box<ureq::Error>> {
        let mut builder = ureq::AgentBuilder::new()
            .redirects(0)
            .timeout_connect(CONNECT_TIMEOUT)
            .timeout_read(READ_TIMEOUT)
            .user_agent(concat!("strata/", env!("CARGO_PKG_VERSION")));
        if let Some(proxy) = proxy_for(url, |name| std::env::var(name).ok()) {
            builder = builder.proxy(ureq::Proxy::new(&proxy).map_err(Box::new)?);
        }
        // Sizes and hashes are of the stored bytes: a compressed answer would not match them (huggingface_hub asks the same).
        let mut request = builder.build().request(method, url).set("Accept-Encoding", "identity");
        if let Some(start) = range_start.filter(|&s| s > 0) {
            request = request.set("Range", &format!("bytes={start}-"));
        }
        request.call().map_err(Box::new)
    }

    fn classify(&self, url: &str, error: Box<ureq::Error>) -> HubError {
        match *error {
            ureq::Error::Status(status, _) => HubError::Status { url: url.into(), status },
            ureq::Error::Transport(transport) => match transport.kind() {
                ureq::ErrorKind::Dns
                | ureq::ErrorKind::ConnectionFailed
                | ureq::ErrorKind::ProxyConnect
                | ureq::ErrorKind::InvalidProxyUrl
                | ureq::ErrorKind::ProxyUnauthorized => {
                    HubError::Unreachable { endpoint: self.endpoint.clone(), reason: transport.to_string() }
                }
                _ => HubError::Protocol { url: url.into(), reason: transport.to_string() },
            },
        }
    }
}

/// `location` made absolute against `url` (the hub redirects renamed repositories relatively).
fn resolve_location(url: &str, location: &str) -> String {
    if location.contains("://") {
        return location.to_string();
    }
    let origin_end = url.find("://").map(|i| i + 3).and_then(|i| url[i..].find('/').map(|j| i + j)).unwrap_or(url.len());
    format!("{}/{}", &url[..origin_end], location.trim_start_matches('/'))
}

/// The proxy for `url` from the environment, the way curl reads it: `NO_PROXY`
/// (hosts or domain suffixes, `*` for all) first, then `HTTPS_PROXY` for https
/// or `HTTP_PROXY` for http, then `ALL_PROXY`; lower-case names too.
fn proxy_for(url: &str, env: impl Fn(&str) -> Option<String>) -> Option<String> {
    let var = |name: &str| env(&name.to_ascii_lowercase()).or_else(|| env(name)).filter(|v| !v.trim().is_empty());
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split('/').next().unwrap_or(rest);
    let host_port = authority.rsplit('@').next().unwrap_or(authority);
    let host = if let Some(bracketed) = host_port.strip_prefix('[') {
        bracketed.split(']').next().unwrap_or(bracketed)
    } else {
        host_port.split(':').next().unwrap_or(host_port)
    }
    .to_ascii_lowercase();
    if let Some(no_proxy) = var("NO_PROXY") {
        let bypass = no_proxy.split(',').map(|entry| entry.trim().to_ascii_lowercase()).any(|entry| {
            let domain = entry.trim_start_matches("*.").trim_start_matches('.');
            entry == "*" || (!domain.is_empty() && (host == domain || host.ends_with(&format!(".{domain}"))))
        });
        if bypass {
            return None;
        }
    }
    let by_scheme = if scheme.eq_ignore_ascii_case("https") { var("HTTPS_PROXY") } else { var("HTTP_PROXY") };
    by_scheme.or_else(|| var("ALL_PROXY"))
}

fn sha256_hex(path: &Path) -> Result<String, HubError> {
    let mut file = std::fs::File::open(path).map_err(io_error(path))?;
    let mut hasher = sha2::Sha256::new();
    std::io::copy(&mut file, &mut hasher).map_err(io_error(path))?;
    Ok(hasher.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxies_follow_the_scheme_and_no_proxy_the_way_curl_reads_them() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |name: &str| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
        };
        let both = env(&[("HTTPS_PROXY", "http://secure:1"), ("http_proxy", "http://plain:2"), ("NO_PROXY", "localhost, .internal.org")]);
        assert_eq!(proxy_for("https://huggingface.co/x", both).as_deref(), Some("http://secure:1"));
        assert_eq!(proxy_for("http://mirror.example:8080/x", both).as_deref(), Some("http://plain:2"));
        assert_eq!(proxy_for("http://localhost:8080/x", both), None);
        assert_eq!(proxy_for("https://hub.internal.org/x", both), None);
        assert_eq!(proxy_for("https://user@internal.org:443/x", both), None);
        assert_eq!(proxy_for("https://notinternal.org/x", both).as_deref(), Some("http://secure:1"));
        assert_eq!(proxy_for("https://h/x", env(&[("ALL_PROXY", "socks5://s:3")])).as_deref(), Some("socks5://s:3"));
        assert_eq!(proxy_for("https://h/x", env(&[("ALL_PROXY", "socks5://s:3"), ("no_proxy", "*")])), None);
        assert_eq!(proxy_for("https://h/x", env(&[])), None);
    }

    #[test]
    fn relative_redirects_stay_on_the_same_host() {
        assert_eq!(resolve_location("https://hub.co/a/resolve/main/f", "/b/resolve/main/f"), "https://hub.co/b/resolve/main/f");
        assert_eq!(resolve_location("https://hub.co/a/resolve/main/f", "https://cdn.co/x?y=1"), "https://cdn.co/x?y=1");
    }

    #[test]
    fn files_are_addressed_the_way_the_hub_lays_them_out() {
        let hub = Hub::with_endpoint("http://127.0.0.1:9/").unwrap();
        assert_eq!(hub.endpoint(), "http://127.0.0.1:9");
        assert_eq!(hub.file_url("m-a-p/MERT-v1-95M", "abc", "config.json"), "http://127.0.0.1:9/m-a-p/MERT-v1-95M/resolve/abc/config.json");
    }
}
