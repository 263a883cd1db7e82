//! The AWS SDK's HTTP client, on reqwest: the stack the Salesforce client already uses. A function
//! binary then carries one HTTP and TLS stack instead of two, and its trust roots are parsed once
//! at init instead of once per stack.

use std::time::Duration;

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;

use crate::tls::{TlsError, TrustRoots};

/// The SDK's own default connect timeout (behavior version 2023-11-09 and later).
const CONNECT_TIMEOUT: Duration = Duration::from_millis(3100);
/// Below the 60 s AWS endpoints keep an idle connection, so a pooled one is never half-closed.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(50);

/// Hands the SDK a connector over one pooled reqwest client.
#[derive(Debug, Clone)]
pub struct ReqwestHttpClient {
    client: reqwest::Client,
}

impl ReqwestHttpClient {
    /// A client that verifies AWS endpoints against `roots` only.
    pub fn shared(roots: &TrustRoots) -> Result<SharedHttpClient, TlsError> {
        let client = reqwest::Client::builder()
            .tls_backend_preconfigured(roots.client_config()?)
            .connect_timeout(CONNECT_TIMEOUT)
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            // The SDK follows no redirects: AWS APIs answer in place.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|err| TlsError::Client(err.to_string()))?;
        Ok(SharedHttpClient::new(Self { client }))
    }
}

impl HttpClient for ReqwestHttpClient {
    fn http_connector(&self, settings: &HttpConnectorSettings, _: &RuntimeComponents) -> SharedHttpConnector {
        SharedHttpConnector::new(ReqwestConnector {
            client: self.client.clone(),
            read_timeout: settings.read_timeout(),
        })
    }
}

#[derive(Debug)]
struct ReqwestConnector {
    client: reqwest::Client,
    read_timeout: Option<Duration>,
}

impl HttpConnector for ReqwestConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let client = self.client.clone();
        let read_timeout = self.read_timeout;
        HttpConnectorFuture::new(async move {
            let (parts, body) =
                request.try_into_http1x().map_err(|err| ConnectorError::user(Box::new(err)))?.into_parts();
            // DynamoDB and Secrets Manager requests are JSON built in memory; nothing here streams.
            let body = body
                .bytes()
                .ok_or_else(|| ConnectorError::user("a streaming request body is not supported".into()))?
                .to_vec();
            let mut outgoing = client.request(parts.method, parts.uri.to_string()).headers(parts.headers).body(body);
            if let Some(timeout) = read_timeout {
                outgoing = outgoing.timeout(timeout);
            }
            let response = outgoing.send().await.map_err(connector_error)?;
            let (status, headers) = (response.status(), response.headers().clone());
            let body = response.bytes().await.map_err(connector_error)?;
            let mut incoming = http::Response::new(SdkBody::from(body));
            *incoming.status_mut() = status;
            *incoming.headers_mut() = headers;
            HttpResponse::try_from(incoming).map_err(|err| ConnectorError::other(Box::new(err), None))
        })
    }
}

/// Classifies a transport failure the way the SDK's retry strategy expects: timeouts and I/O
/// failures are transient, the rest are not retried.
fn connector_error(err: reqwest::Error) -> ConnectorError {
    if err.is_timeout() {
        ConnectorError::timeout(Box::new(err))
    } else if err.is_connect() || err.is_request() || err.is_body() {
        ConnectorError::io(Box::new(err))
    } else {
        ConnectorError::other(Box::new(err), None)
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
    use aws_smithy_runtime_api::client::result::SdkError;
    use aws_smithy_types::retry::RetryConfig;
    use aws_smithy_types::timeout::TimeoutConfig;

    use super::*;

    /// A DynamoDB client on this connector, one attempt per call.
    fn dynamodb(endpoint: String) -> aws_sdk_dynamodb::Client {
        let config = aws_sdk_dynamodb::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(endpoint)
            .credentials_provider(Credentials::new("test", "test", None, None, "tests"))
            .http_client(ReqwestHttpClient::shared(TrustRoots::system().unwrap()).unwrap())
            .retry_config(RetryConfig::disabled())
            .timeout_config(TimeoutConfig::builder().read_timeout(Duration::from_millis(300)).build())
            .build();
        aws_sdk_dynamodb::Client::from_conf(config)
    }

    #[tokio::test]
    async fn a_refused_connection_is_a_transient_io_failure() {
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        match dynamodb(format!("http://{closed}")).list_tables().send().await {
            Err(SdkError::DispatchFailure(failure)) => assert!(failure.is_io(), "{failure:?}"),
            other => panic!("expected a dispatch failure, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_silent_server_is_a_timeout() {
        let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = silent.local_addr().unwrap();
        let held = tokio::spawn(async move { silent.accept().await });
        match dynamodb(format!("http://{address}")).list_tables().send().await {
            Err(SdkError::DispatchFailure(failure)) => assert!(failure.is_timeout(), "{failure:?}"),
            other => panic!("expected a dispatch failure, got {other:?}"),
        }
        held.abort();
    }
}
