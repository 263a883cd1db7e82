//! Function binaries: stripped size, and init time — from exec until the runtime asks the Lambda
//! Runtime API for its first event, with every client built — against a stand-in Runtime API.
//! Builds the release binaries first (`cargo build --release`, the profile SAM's build uses).
//!
//! `cargo bench -p outpost-tests --bench cold_start`

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Each function's package and binary.
const FUNCTIONS: [(&str, &str); 7] = [
    ("outpost-entry", "outpost-entry"),
    ("outpost-authorizer", "outpost-authorizer"),
    ("outpost-apex", "outpost-apex"),
    ("outpost-sync", "outpost-sync"),
    ("outpost-app", "outpost-app"),
    ("outpost-send", "outpost-send"),
    ("outpost-send", "outpost-unsubscribe"),
];
const RUNS: usize = 30;

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Milliseconds from exec to the first `GET …/invocation/next`.
fn init_time(binary: &PathBuf) -> Result<Duration, Box<dyn std::error::Error>> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let address = listener.local_addr()?;
    let started = Instant::now();
    let mut child = Command::new(binary)
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", address.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", "bench")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/bench")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "bench")
        .env("AWS_SECRET_ACCESS_KEY", "bench")
        .env("AWS_SESSION_TOKEN", "bench")
        .env("OUTPOST_TABLE", "outpost")
        .env("OUTPOST_APP_SECRET", "outpost/app")
        .env("OUTPOST_EXPORT_BUCKET", "outpost-exports")
        .env("OUTPOST_PUBLIC_URL", "https://outpost.example.com")
        .env("OUTPOST_JOBS_QUEUE_URL", "https://sqs.us-east-1.amazonaws.com/123456789012/outpost-jobs")
        .env("OUTPOST_SES_CONFIGURATION_SET", "outpost-campaigns")
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let (mut stream, _) = listener.accept()?;
    let mut request_line = String::new();
    BufReader::new(stream.try_clone()?).read_line(&mut request_line)?;
    let elapsed = started.elapsed();
    if !request_line.contains("/runtime/invocation/next") {
        return Err(format!("unexpected first request: {request_line}").into());
    }
    let _ = stream.write_all(b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\n\r\n");
    child.kill()?;
    child.wait()?;
    Ok(elapsed)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut build = Command::new(cargo);
    build.current_dir(workspace_root()).args(["build", "--release", "--quiet"]);
    // Cargo runs this bench with the bench's own package variables set; build scripts that watch
    // them (ring's watches CARGO_MANIFEST_DIR) would otherwise rebuild for minutes each time.
    for (name, _) in std::env::vars_os() {
        if name.to_str().is_some_and(|name| name.starts_with("CARGO_MANIFEST") || name.starts_with("CARGO_PKG_")) {
            build.env_remove(name);
        }
    }
    for (package, binary) in FUNCTIONS {
        build.args(["-p", package, "--bin", binary]);
    }
    if !build.status()?.success() {
        return Err("cargo build --release failed".into());
    }
    println!("| function | stripped size (MB) | init p50 (ms) | init p95 (ms) |");
    println!("|---|---|---|---|");
    for (_, function) in FUNCTIONS {
        let binary = workspace_root().join("target/release").join(function);
        let size = std::fs::metadata(&binary)?.len() as f64 / 1_000_000.0;
        let mut times: Vec<Duration> = (0..RUNS).map(|_| init_time(&binary)).collect::<Result<_, _>>()?;
        times.sort();
        let at = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize].as_secs_f64() * 1000.0;
        println!("| {function} | {size:.2} | {:.2} | {:.2} |", at(0.5), at(0.95));
    }
    Ok(())
}
