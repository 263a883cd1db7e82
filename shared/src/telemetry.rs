//! Tracing: JSON lines on Lambda (with the invocation's request id from the runtime's span),
//! readable lines locally. Crates that could print request data are capped at `info`, whatever
//! `RUST_LOG` says, because a query string may hold a Salesforce session id.

use tracing_subscriber::EnvFilter;

/// How log lines look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line, span fields included (CloudWatch).
    Json,
    /// Human-readable lines (a terminal).
    Pretty,
}

/// Directives appended after `RUST_LOG` so they win for these targets.
const CAPS: &str = "lambda_runtime=info,lambda_http=info,lambda_runtime_api_client=info,hyper=info,hyper_util=info,h2=info,reqwest=info,aws_smithy_runtime=info,aws_config=info,tower=info,axum=info";

/// The filter: `RUST_LOG` (default `info`) plus the caps.
pub fn filter() -> EnvFilter {
    let base = std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into());
    EnvFilter::try_new(format!("{base},{CAPS}")).unwrap_or_else(|_| EnvFilter::new(format!("info,{CAPS}")))
}

/// Installs the global subscriber once; later calls do nothing (tests start many stacks).
pub fn init(format: LogFormat) {
    let builder = tracing_subscriber::fmt().with_env_filter(filter()).with_writer(std::io::stderr);
    let _already_set = match format {
        LogFormat::Json => {
            builder.json().flatten_event(true).with_current_span(true).with_span_list(false).without_time().try_init()
        }
        LogFormat::Pretty => builder.with_target(false).compact().try_init(),
    };
}
