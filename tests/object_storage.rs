//! callqa over object storage (issue 21, step 3), against a local S3 server: an `s3://`
//! folder audits to the same scorecards and findings as the same files on disk (the sources
//! aside, which name the objects); shards write their partials to `s3://` and the merge reads
//! them from there, a folder of them or one by one; a manifest lists objects; an object that
//! is missing or cut short is reported, named, as a file would be.
//!
//! The server is any S3 endpoint on this machine named by `CALLQA_TEST_S3_ENDPOINT`
//! (`.ci/run` starts moto's, from PyPI, and sets `CALLQA_TEST_S3_REQUIRED` so that a skip
//! fails). Without the variable the test says it is skipped and passes, so a plain
//! `cargo test` needs no network. Each run
//! works in a bucket of its own.

mod common;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Arc;

use common::{REPORT_FILES, code, command, stderr};
use object_store::ObjectStoreExt;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as Key;

const ENDPOINT_VARIABLE: &str = "CALLQA_TEST_S3_ENDPOINT";
/// Set (by `.ci/run`) when a skip would be a failure.
const REQUIRED_VARIABLE: &str = "CALLQA_TEST_S3_REQUIRED";
const INPUT: &str = "fixtures/shards";

/// A bucket of this run's own on the test server, and a client to fill it.
struct Bucket {
    endpoint: String,
    name: String,
    store: Arc<AmazonS3>,
    runtime: tokio::runtime::Runtime,
}

impl Bucket {
    fn create(endpoint: &str) -> Bucket {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let name = format!("callqa-test-{}-{nanos}", std::process::id());
        create_bucket(endpoint, &name);
        #[allow(deprecated)]
        let _ = rustls::crypto::ring::default_provider().install_default();
        let store = AmazonS3Builder::new()
            .with_endpoint(endpoint)
            .with_allow_http(true)
            .with_region("us-east-1")
            .with_access_key_id("testing")
            .with_secret_access_key("testing")
            .with_bucket_name(&name)
            .build()
            .unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        Bucket {
            endpoint: endpoint.to_string(),
            name,
            store: Arc::new(store),
            runtime,
        }
    }

    fn url(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.name)
    }

    fn put(&self, key: &str, bytes: Vec<u8>) {
        self.runtime
            .block_on(self.store.put(&Key::from(key), bytes.into()))
            .unwrap_or_else(|err| panic!("upload {key}: {err}"));
    }

    /// Uploads every file under `dir` (hidden ones too) below `prefix`.
    fn put_folder(&self, dir: &Path, prefix: &str) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_str().unwrap().to_string();
            if path.is_dir() {
                self.put_folder(&path, &format!("{prefix}{name}/"));
            } else {
                self.put(&format!("{prefix}{name}"), std::fs::read(&path).unwrap());
            }
        }
    }

    /// Runs callqa with the standard AWS variables pointing at the test server. No
    /// `AWS_ALLOW_HTTP`: plain http is allowed because the endpoint is a loopback address.
    fn callqa(&self, args: &[&str]) -> Output {
        command()
            .args(args)
            .env_remove("AWS_ALLOW_HTTP")
            .env("AWS_ENDPOINT_URL", &self.endpoint)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", "us-east-1")
            .output()
            .expect("the callqa binary runs")
    }
}

/// `PUT /BUCKET` on the server: the one request `object_store` does not make.
fn create_bucket(endpoint: &str, name: &str) {
    let host = endpoint
        .strip_prefix("http://")
        .expect("a plain-http endpoint on this machine")
        .trim_end_matches('/');
    let mut stream = std::net::TcpStream::connect(host)
        .unwrap_or_else(|err| panic!("{ENDPOINT_VARIABLE}={endpoint}: {err}"));
    write!(
        stream,
        "PUT /{name} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(
        response.starts_with("HTTP/1.1 200"),
        "create bucket {name}: {response}"
    );
}

fn read(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).unwrap_or_else(|err| panic!("{name}: {err}"))
}

fn ok(output: &Output, what: &str) {
    assert_eq!(code(output), 0, "{what}: {}", stderr(output));
}

#[test]
fn audits_shards_and_merges_over_s3() {
    let Some(endpoint) = std::env::var(ENDPOINT_VARIABLE)
        .ok()
        .filter(|v| !v.is_empty())
    else {
        assert!(
            std::env::var_os(REQUIRED_VARIABLE).is_none(),
            "{REQUIRED_VARIABLE} is set: this test must run, but {ENDPOINT_VARIABLE} is not set"
        );
        eprintln!(
            "object_storage: skipped: {ENDPOINT_VARIABLE} is not set (an S3 endpoint on this \
             machine, such as moto's server; .ci/run starts one and sets it)"
        );
        return;
    };
    let bucket = Bucket::create(&endpoint);
    bucket.put_folder(Path::new(INPUT), "exports/");
    // Hidden objects are skipped, as hidden files in a folder are.
    bucket.put(
        "exports/.staging/extra.jsonl",
        br#"{"id":"hidden-1","agent_id":"a-x","turns":[{"speaker":"agent","text":"hi"}]}"#.to_vec(),
    );
    let dir = tempfile::tempdir().unwrap();
    let report = audit_as_on_disk(&bucket, dir.path());
    shards_and_merge(&bucket, dir.path(), &report);
    manifest_of_objects(&bucket, dir.path());
    unreadable_objects(&bucket, dir.path());
}

/// A path under `dir`, as text.
fn out(dir: &Path, name: &str) -> String {
    dir.join(name).to_str().unwrap().to_string()
}

/// The folder on disk and the same objects give the same scorecards and findings. Returns
/// the report of the objects.
fn audit_as_on_disk(bucket: &Bucket, dir: &Path) -> PathBuf {
    let local = out(dir, "local");
    ok(
        &bucket.callqa(&["audit", INPUT, "-q", "-o", &local]),
        "local",
    );
    let remote = out(dir, "remote");
    let exports = bucket.url("exports/");
    ok(
        &bucket.callqa(&["audit", &exports, "-q", "-o", &remote]),
        "audit s3://",
    );
    let (local, remote) = (Path::new(&local), PathBuf::from(&remote));
    assert_eq!(
        read(&remote, "scorecards.csv"),
        read(local, "scorecards.csv")
    );
    let findings = read(&remote, "findings.csv");
    assert!(
        findings.contains(&format!("{exports}01-calls.jsonl:")),
        "sources name the objects: {findings}"
    );
    assert_eq!(
        findings.replace(&exports, &format!("{INPUT}/")),
        read(local, "findings.csv")
    );
    remote
}

/// Shards write their partials to s3://, and the merge reads them back (all of a folder, or
/// named one by one in any order) into the report one audit writes.
fn shards_and_merge(bucket: &Bucket, dir: &Path, report: &Path) {
    let exports = bucket.url("exports/");
    for i in 0..3 {
        let (shard, partial) = (format!("{i}/3"), bucket.url(&format!("parts/part-{i}")));
        let args = ["audit", &exports, "--shard", &shard, "--partial", &partial];
        ok(&bucket.callqa(&[&args[..], &["-q"]].concat()), &shard);
    }
    let by_folder = out(dir, "by-folder");
    let parts = bucket.url("parts/");
    ok(
        &bucket.callqa(&["merge", &parts, "-q", "-o", &by_folder]),
        "merge s3://…/parts/",
    );
    let named = out(dir, "named");
    let (p0, p1, p2) = (
        bucket.url("parts/part-0"),
        bucket.url("parts/part-1"),
        bucket.url("parts/part-2"),
    );
    ok(
        &bucket.callqa(&["merge", &p2, &p0, &p1, "-q", "-o", &named]),
        "merge by name",
    );
    for merged in [&by_folder, &named] {
        for name in REPORT_FILES {
            assert_eq!(
                read(Path::new(merged), name),
                read(report, name),
                "{merged}: {name}"
            );
        }
    }
}

/// A manifest lists objects; they are read as if named on the command line.
fn manifest_of_objects(bucket: &Bucket, dir: &Path) {
    let manifest = dir.join("manifest.txt");
    let (calls, older) = (
        bucket.url("exports/01-calls.jsonl"),
        bucket.url("exports/03-older.jsonl.gz"),
    );
    std::fs::write(&manifest, format!("# two objects\n{calls}\n\n{older}\n")).unwrap();
    let listed_part = bucket.url("listed/part-0");
    let shard_args = [
        "audit",
        "--manifest",
        manifest.to_str().unwrap(),
        "--partial",
        &listed_part,
        "-q",
    ];
    ok(&bucket.callqa(&shard_args), "shard of a manifest");
    let listed = out(dir, "listed");
    ok(
        &bucket.callqa(&["merge", &listed_part, "-q", "-o", &listed]),
        "merge of the manifest's shard",
    );
    let direct = out(dir, "direct");
    ok(
        &bucket.callqa(&["audit", &calls, &older, "-q", "-o", &direct]),
        "two objects named",
    );
    assert_eq!(
        read(Path::new(&listed), "findings.csv"),
        read(Path::new(&direct), "findings.csv")
    );
}

/// An object cut short is reported like a file cut short, the object named; a PATH that
/// names no object is reported and exits 2 once the rest is audited, as a missing file does;
/// a merge input that is missing, or a prefix with nothing under it, exits 2 naming it.
fn unreadable_objects(bucket: &Bucket, dir: &Path) {
    bucket.put(
        "bad/truncated.jsonl.gz",
        std::fs::read("fixtures/bad/truncated.jsonl.gz").unwrap(),
    );
    let (bad, missing) = (bucket.url("bad/"), bucket.url("missing.jsonl"));
    let calls = bucket.url("exports/01-calls.jsonl");
    let bad_out = out(dir, "bad");
    let output = bucket.callqa(&["audit", &bad, &missing, &calls, "-o", &bad_out]);
    let err = stderr(&output);
    assert_eq!(code(&output), 2, "{err}");
    assert!(
        err.contains(&format!("{missing}: cannot read: no such object")),
        "{err}"
    );
    assert!(err.contains(&format!("{bad}truncated.jsonl.gz:")), "{err}");
    assert!(Path::new(&bad_out).join("findings.csv").exists(), "{err}");
    let output = bucket.callqa(&["merge", &bucket.url("parts/part-9"), "-q"]);
    assert_eq!(code(&output), 2, "{}", stderr(&output));
    assert!(
        stderr(&output).contains("parts/part-9: cannot read: no such object"),
        "{}",
        stderr(&output)
    );
    let output = bucket.callqa(&["merge", &bucket.url("nothing/"), "-q"]);
    assert_eq!(code(&output), 2, "{}", stderr(&output));
    assert!(stderr(&output).contains("no partial under this prefix"));
}

/// Schemes callqa cannot test against a local emulator are refused, saying so: as a PATH,
/// a manifest's line, a `--partial` target and a merge input. No server is needed.
#[test]
fn other_schemes_are_refused() {
    let refused = "gs:// is not supported: callqa reads object storage through s3:// URLs only";
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("manifest.txt");
    std::fs::write(&manifest, "gs://bucket/calls.jsonl\n").unwrap();
    let manifest = manifest.to_str().unwrap();
    let partial = dir.path().join("part");
    let partial = partial.to_str().unwrap();
    let cases: [&[&str]; 4] = [
        &["audit", "gs://bucket/exports/", "-q"],
        &["audit", "--manifest", manifest, "--partial", partial, "-q"],
        &["audit", INPUT, "--partial", "gs://bucket/part-0", "-q"],
        &["merge", "gs://bucket/parts/", "-q"],
    ];
    for args in cases {
        let output = common::callqa(args);
        assert_eq!(code(&output), 2, "{args:?}: {}", stderr(&output));
        assert!(
            stderr(&output).contains(refused),
            "{args:?}: {}",
            stderr(&output)
        );
    }
}
