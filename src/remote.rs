//! Object storage: `s3://bucket/key` URLs read and written as files are.
//!
//! A PATH, a manifest's line, a `--partial` target and a merge input may be an `s3://` URL.
//! One ending in `/` is a folder: `list` gives the objects under it in key order (hidden
//! names and folder markers left out, as the folder walk leaves them). One without is an
//! object: `size` asks for its size, `open` streams its bytes (never the whole object in
//! memory: the chunk reader reads it as it reads a file), `upload` writes a finished local
//! file to it in one piece (a single put, or a multipart upload past 10 MB that S3 completes
//! atomically), so an object holds a whole partial or nothing.
//!
//! The client is `object_store`'s S3 backend, configured from the standard AWS environment
//! variables (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION`
//! or `AWS_DEFAULT_REGION`, `AWS_ENDPOINT_URL`, web identity and container credentials). A
//! plain-http endpoint is allowed when it is a loopback address, or when `AWS_ALLOW_HTTP=true`.
//! Requests that fail on the network or with a server error are retried with exponential
//! backoff (up to 10 times, within 3 minutes; a body cut short is resumed where it stopped),
//! then reported like a file that cannot be read, the URL named.
//!
//! The client is asynchronous; the rest of callqa is not. A tokio runtime of one worker
//! thread, started on the first URL, lives here alone, and every call blocks on it: readers
//! are plain `Read`s. Other schemes (`gs://`, `az://`, …) are refused with a message saying
//! so: they would need an emulator to be tested against.

use std::collections::HashMap;
use std::io::{self, Read};
use std::net::IpAddr;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};

use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as Key;
use object_store::{ObjectStore, ObjectStoreExt};

/// The scheme callqa reads.
const S3: &str = "s3://";

/// The text of `path` when it is a URL (`scheme://…`), whatever the scheme.
pub(crate) fn url(path: &Path) -> Option<&str> {
    let text = path.to_str()?;
    let (scheme, _) = text.split_once("://")?;
    let is_scheme = scheme.len() > 1
        && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    is_scheme.then_some(text)
}

/// Refuses, before any work, a URL callqa cannot read or write: another scheme than `s3://`,
/// or one without a bucket. Other paths pass.
pub fn check(path: &Path) -> Result<(), String> {
    match url(path) {
        Some(url) => split(url).map(drop).map_err(|err| format!("{url}: {err}")),
        None => Ok(()),
    }
}

/// Whether a URL names a folder (a prefix) rather than one object.
pub(crate) fn is_folder(url: &str) -> bool {
    url.ends_with('/') || url.strip_prefix(S3).is_some_and(|rest| !rest.contains('/'))
}

/// An object found under a folder's URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Object {
    /// `s3://bucket/key`.
    pub(crate) url: String,
    /// The key below the folder's prefix.
    pub(crate) relative: String,
    pub(crate) size: u64,
}

/// The objects under the folder `url`, in key order; names with a part starting with `.` (as
/// the folder walk skips hidden entries) and folder markers (keys ending in `/`) are left out.
pub(crate) fn list(url: &str) -> io::Result<Vec<Object>> {
    let (bucket, key) = split(url)?;
    let prefix = key.trim_end_matches('/');
    let store = store(bucket)?;
    let listed: Vec<object_store::ObjectMeta> = runtime()?
        .block_on(async {
            let prefix = (!prefix.is_empty()).then(|| Key::from(prefix));
            store
                .list(prefix.as_ref())
                .collect::<Vec<_>>()
                .await
                .into_iter()
                .collect::<object_store::Result<Vec<_>>>()
        })
        .map_err(io_error)?;
    let mut objects: Vec<Object> = listed
        .into_iter()
        .filter_map(|meta| {
            let key = meta.location.as_ref();
            let relative = if prefix.is_empty() {
                key
            } else {
                key.strip_prefix(prefix)?.strip_prefix('/')?
            };
            let hidden = relative.split('/').any(|part| part.starts_with('.'));
            (!hidden && !relative.is_empty() && !relative.ends_with('/')).then(|| Object {
                url: format!("{S3}{bucket}/{key}"),
                relative: relative.to_string(),
                size: meta.size,
            })
        })
        .collect();
    objects.sort_by(|a, b| a.url.cmp(&b.url));
    Ok(objects)
}

/// The size of the object `url`.
pub(crate) fn size(url: &str) -> io::Result<u64> {
    let (bucket, key) = split(url)?;
    let store = store(bucket)?;
    let meta = runtime()?
        .block_on(store.head(&Key::from(key)))
        .map_err(io_error)?;
    Ok(meta.size)
}

/// The bytes of the object `url`, as they arrive.
pub(crate) fn open(url: &str) -> io::Result<ObjectReader> {
    let (bucket, key) = split(url)?;
    let store = store(bucket)?;
    let got = runtime()?
        .block_on(store.get(&Key::from(key)))
        .map_err(io_error)?;
    Ok(ObjectReader {
        stream: got.into_stream(),
        pending: Bytes::new(),
    })
}

/// Writes the local file `from` to the object `url`, whole or not at all.
pub(crate) fn upload(from: &Path, url: &str) -> io::Result<()> {
    use tokio::io::AsyncWriteExt;
    let (bucket, key) = split(url)?;
    let store: Arc<dyn ObjectStore> = store(bucket)?;
    let mut file = std::fs::File::open(from)?;
    runtime()?.block_on(async {
        let mut writer = object_store::buffered::BufWriter::new(store, Key::from(key));
        let mut buffer = vec![0u8; 1 << 20];
        let written: io::Result<()> = async {
            loop {
                let n = file.read(&mut buffer)?;
                if n == 0 {
                    break;
                }
                writer.write_all(&buffer[..n]).await?;
            }
            writer.shutdown().await
        }
        .await;
        if written.is_err() {
            // A multipart upload begun is dropped, so no part of it lingers in the bucket.
            let _ = writer.abort().await;
        }
        written
    })
}

/// A blocking reader of an object's byte stream.
pub(crate) struct ObjectReader {
    stream: BoxStream<'static, object_store::Result<Bytes>>,
    /// What is left of the last piece received.
    pending: Bytes,
}

impl Read for ObjectReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pending.is_empty() {
            match runtime()?.block_on(self.stream.next()) {
                None => return Ok(0),
                Some(piece) => self.pending = piece.map_err(io_error)?,
            }
        }
        let n = buf.len().min(self.pending.len());
        buf[..n].copy_from_slice(&self.pending[..n]);
        self.pending = self.pending.slice(n..);
        Ok(n)
    }
}

/// The bucket and key of an `s3://` URL; any other scheme is refused.
fn split(url: &str) -> io::Result<(&str, &str)> {
    let Some(rest) = url.strip_prefix(S3) else {
        let scheme = url.split_once("://").map_or(url, |(scheme, _)| scheme);
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            format!(
                "{scheme}:// is not supported: callqa reads object storage through s3:// URLs only"
            ),
        ));
    };
    let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "an s3:// URL names a bucket: s3://BUCKET/KEY",
        ));
    }
    Ok((bucket, key))
}

/// The one runtime the client runs on: one worker thread, started on first use.
fn runtime() -> io::Result<&'static tokio::runtime::Runtime> {
    static RUNTIME: OnceLock<Result<tokio::runtime::Runtime, String>> = OnceLock::new();
    let runtime = RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("callqa-s3")
            .enable_all()
            .build()
            .map_err(|err| err.to_string())
    });
    runtime
        .as_ref()
        .map_err(|err| io::Error::other(format!("cannot start the S3 client: {err}")))
}

/// The client of `bucket`, built once from the environment.
fn store(bucket: &str) -> io::Result<Arc<AmazonS3>> {
    static STORES: OnceLock<Mutex<HashMap<String, Arc<AmazonS3>>>> = OnceLock::new();
    let mut stores = STORES
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(store) = stores.get(bucket) {
        return Ok(store.clone());
    }
    // reqwest's rustls has no provider of its own here (see Cargo.toml), and a client cannot
    // be built without one: ring it is. rustls 0.23.48 deprecates ring's provider for its lack
    // of post-quantum key exchange; that is what the aws-lc-rs C build would buy back.
    // Another provider already installed is as good.
    #[allow(deprecated)]
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
    if endpoint().is_some_and(|endpoint| is_loopback_http(&endpoint)) {
        builder = builder.with_allow_http(true);
    }
    let store = Arc::new(builder.build().map_err(io_error)?);
    stores.insert(bucket.to_string(), store.clone());
    Ok(store)
}

/// The endpoint the environment names, as `object_store` reads it.
fn endpoint() -> Option<String> {
    ["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "AWS_ENDPOINT"]
        .into_iter()
        .find_map(|name| std::env::var(name).ok().filter(|v| !v.trim().is_empty()))
}

/// Whether `endpoint` is plain http to this machine (`localhost`, `127.0.0.0/8`, `[::1]`).
fn is_loopback_http(endpoint: &str) -> bool {
    let Some(rest) = endpoint.trim().strip_prefix("http://") else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    let host = match host_port.strip_prefix('[') {
        Some(bracketed) => bracketed.split(']').next().unwrap_or_default(),
        None => host_port.split(':').next().unwrap_or_default(),
    };
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// An `object_store` error as an I/O error, kept short: the kind callqa's messages say, with
/// the client's words after it.
fn io_error(err: object_store::Error) -> io::Error {
    match err {
        object_store::Error::NotFound { .. } => io::Error::new(
            io::ErrorKind::NotFound,
            "no such object (a folder's URL ends in /)",
        ),
        other => io::Error::other(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_folders() {
        let cases = [
            ("s3://b/k.jsonl", Some(false)),
            ("s3://b/prefix/", Some(true)),
            ("s3://b", Some(true)),
            ("gs://b/k", Some(false)),
            ("exports/2026/", None),
            ("./s3:/b", None),
            ("-", None),
        ];
        for (text, folder) in cases {
            let found = url(Path::new(text));
            assert_eq!(found.map(is_folder), folder, "{text}");
        }
        assert_eq!(split("s3://b/a/k.csv").unwrap(), ("b", "a/k.csv"));
        assert_eq!(split("s3://b").unwrap(), ("b", ""));
        let refused = split("gs://b/k").unwrap_err();
        assert_eq!(refused.kind(), io::ErrorKind::Unsupported);
        assert!(refused.to_string().starts_with("gs:// is not supported"));
        assert!(split("s3:///k").is_err());
    }

    #[test]
    fn plain_http_only_to_this_machine() {
        for endpoint in [
            "http://127.0.0.1:9000",
            "http://localhost:5000/",
            "http://[::1]:9000",
            "http://127.0.0.2",
        ] {
            assert!(is_loopback_http(endpoint), "{endpoint}");
        }
        for endpoint in [
            "https://127.0.0.1:9000",
            "http://s3.example.com",
            "http://10.0.0.1:9000",
            "http://localhost.example.com",
            "http://127.0.0.1.example.com",
        ] {
            assert!(!is_loopback_http(endpoint), "{endpoint}");
        }
    }
}
