//! Tracing: JSON lines on Lambda, each carrying the fields of every enclosing span (so the
//! runtime's `requestId` is on every line), readable lines locally; always on stderr. Crates that
//! could print request data are capped at `info`, whatever `RUST_LOG` says, because a query string
//! may hold a Salesforce session id.

use tracing::Subscriber;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

/// How log lines look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line with the span fields (CloudWatch).
    Json,
    /// Human-readable lines (a terminal).
    Pretty,
}

/// Directives appended after `RUST_LOG` so they win for these targets.
const CAPS: &str = "lambda_runtime=info,lambda_http=info,lambda_runtime_api_client=info,hyper=info,hyper_util=info,h2=info,reqwest=info,aws_smithy_runtime=info,aws_config=info,tower=info,axum=info";

/// The filter: `RUST_LOG` (default `info`) plus the caps.
pub fn filter() -> EnvFilter {
    filter_with(&std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()))
}

/// `base` directives plus the caps.
pub fn filter_with(base: &str) -> EnvFilter {
    EnvFilter::try_new(format!("{base},{CAPS}")).unwrap_or_else(|_| EnvFilter::new(format!("info,{CAPS}")))
}

/// The subscriber for `format`, writing to `writer`.
pub fn subscriber<W>(format: LogFormat, filter: EnvFilter, writer: W) -> Box<dyn Subscriber + Send + Sync>
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(writer);
    match format {
        LogFormat::Json => Box::new(
            builder.json().flatten_event(true).with_current_span(false).with_span_list(true).without_time().finish(),
        ),
        // Pretty lines are for a person's stderr: colours only when it is a terminal.
        LogFormat::Pretty => Box::new(
            builder
                .with_target(false)
                .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
                .compact()
                .finish(),
        ),
    }
}

/// Installs the global subscriber once, and forwards the `log` records of libraries that use it
/// (the embedded store reports a journal it repaired that way); later calls do nothing (tests
/// start many stacks).
pub fn init(format: LogFormat) {
    use tracing_subscriber::util::SubscriberInitExt;
    let _already_set = subscriber(format, filter(), std::io::stderr).try_init();
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Lines {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn every_json_line_carries_the_invocation_request_id() {
        let lines = Lines::default();
        let writer = lines.clone();
        let subscriber = subscriber(LogFormat::Json, EnvFilter::new("info"), move || writer.clone());
        tracing::subscriber::with_default(subscriber, || {
            // The runtime's own span, as lambda_runtime opens it per invocation.
            let invoke = tracing::info_span!("Lambda runtime invoke", requestId = "req-42");
            let _invoke = invoke.enter();
            tracing::info!("outer");
            let inner = tracing::info_span!("enter", org = "00D");
            let _inner = inner.enter();
            tracing::warn!(code = "x", "inner");
        });
        let output = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
        let logged: Vec<serde_json::Value> = output.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(logged.len(), 2);
        for line in &logged {
            assert!(line.to_string().contains("req-42"), "{line}");
        }
        assert_eq!(logged[1]["code"], "x");
    }
}
