//! Amazon SES v2 behind the [`Mailer`] trait: `SendEmail` for each message, `GetAccount` for the
//! account's limits, and SES's errors sorted by what the sender may do about them.

use async_trait::async_trait;
use aws_sdk_sesv2::config::http::HttpResponse;
use aws_sdk_sesv2::config::retry::RetryConfig;
use aws_sdk_sesv2::error::{BuildError, DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_sesv2::operation::send_email::SendEmailError;
use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message, MessageHeader, MessageTag};
use outpost_shared::campaigns::mail::{Mailer, OutgoingMessage, SendError, SendQuota};

/// Every text part is sent as UTF-8.
const CHARSET: &str = "UTF-8";

/// Sends through Amazon SES v2, in one configuration set if given (its event destinations
/// publish deliveries, bounces and complaints).
#[derive(Debug, Clone)]
pub struct SesMailer {
    client: aws_sdk_sesv2::Client,
    configuration_set: Option<String>,
}

impl SesMailer {
    /// A mailer on `client` (built from the function's `SdkConfig`) that sends each message in
    /// `configuration_set` when there is one.
    pub fn new(client: aws_sdk_sesv2::Client, configuration_set: Option<String>) -> Self {
        Self { client, configuration_set }
    }
}

#[async_trait]
impl Mailer for SesMailer {
    async fn send(&self, message: &OutgoingMessage) -> Result<String, SendError> {
        let content = email_content(message).map_err(|err| SendError::NotSent(err.to_string()))?;
        let tags = email_tags(message).map_err(|err| SendError::NotSent(err.to_string()))?;
        let output = self
            .client
            .send_email()
            .from_email_address(&message.from)
            .destination(Destination::builder().to_addresses(&message.to).build())
            .set_reply_to_addresses(message.reply_to.clone().map(|reply_to| vec![reply_to]))
            .content(content)
            .set_email_tags(Some(tags).filter(|tags| !tags.is_empty()))
            .set_configuration_set_name(self.configuration_set.clone())
            .customize()
            // SendEmail is not idempotent: an SDK retry after a lost answer could send the message
            // twice, and would hide from the caller that the first attempt may have gone out.
            .config_override(aws_sdk_sesv2::Config::builder().retry_config(RetryConfig::disabled()))
            .send()
            .await
            .map_err(send_error)?;
        match output.message_id() {
            Some(id) if !id.is_empty() => Ok(id.to_owned()),
            // SES answered 200, so it most likely took the message, but without an id to prove it.
            _ => Err(SendError::Unknown("SES accepted the request but returned no message id".to_owned())),
        }
    }

    async fn quota(&self) -> Result<SendQuota, SendError> {
        let account = self.client.get_account().send().await.map_err(|err| match transport_error(&err) {
            Some(transport) => transport,
            None => service_error(err.code(), err.message(), err.raw_response().map(status_of)),
        })?;
        let quota = account
            .send_quota()
            .ok_or_else(|| SendError::Unknown("SES GetAccount returned no SendQuota".to_owned()))?;
        Ok(SendQuota {
            max_send_rate: quota.max_send_rate(),
            max_24_hour_send: quota.max24_hour_send(),
            sent_last_24_hours: quota.sent_last24_hours(),
        })
    }
}

/// The message as SES v2's simple content: subject, text and HTML bodies, and the headers SES adds
/// as given (List-Unsubscribe and List-Unsubscribe-Post among them).
fn email_content(message: &OutgoingMessage) -> Result<EmailContent, BuildError> {
    let text = |data: &str| Content::builder().data(data).charset(CHARSET).build();
    let mut body = Body::builder();
    // An empty part is left out rather than sent as an empty alternative.
    if !message.text.is_empty() {
        body = body.text(text(&message.text)?);
    }
    if !message.html.is_empty() {
        body = body.html(text(&message.html)?);
    }
    let headers = message
        .headers
        .iter()
        .map(|header| MessageHeader::builder().name(&header.name).value(&header.value).build())
        .collect::<Result<Vec<_>, _>>()?;
    let simple = Message::builder()
        .subject(text(&message.subject)?)
        .body(body.build())
        .set_headers(Some(headers).filter(|headers| !headers.is_empty()))
        .build();
    Ok(EmailContent::builder().simple(simple).build())
}

/// The message's tags, which SES publishes with each of its events.
fn email_tags(message: &OutgoingMessage) -> Result<Vec<MessageTag>, BuildError> {
    message.tags.iter().map(|(name, value)| MessageTag::builder().name(name).value(value).build()).collect()
}

fn status_of(response: &HttpResponse) -> u16 {
    response.status().as_u16()
}

/// A failed SendEmail, by what the sender may do about it.
fn send_error(err: SdkError<SendEmailError, HttpResponse>) -> SendError {
    if let Some(transport) = transport_error(&err) {
        return transport;
    }
    let status = err.raw_response().map(status_of);
    let Some(service) = err.as_service_error() else {
        return SendError::Unknown(describe(None, None));
    };
    let (code, message) = (service.code(), service.message());
    tracing::debug!(code, status, "SES SendEmail refused");
    match service {
        SendEmailError::MessageRejected(_)
        | SendEmailError::MailFromDomainNotVerifiedException(_)
        | SendEmailError::BadRequestException(_) => SendError::Rejected(describe(code, message)),
        SendEmailError::AccountSuspendedException(_) | SendEmailError::SendingPausedException(_) => {
            SendError::SendingDisabled(describe(code, message))
        }
        // A configuration set or identity the request names does not exist: every message would
        // be refused the same way until the account is fixed.
        SendEmailError::NotFoundException(_) => SendError::SendingDisabled(describe(code, message)),
        SendEmailError::TooManyRequestsException(_) => over_limit(code, message),
        // SES's account-level limits; only a sending-rate message means "slow down".
        SendEmailError::LimitExceededException(_) => {
            if mentions(message, "rate") && !mentions(message, "quota") {
                SendError::Throttled(describe(code, message))
            } else {
                SendError::QuotaExceeded
            }
        }
        _ => service_error(code, message, status),
    }
}

/// The failures that happened before SES could answer; `None` for an answer from SES.
fn transport_error<E, R>(err: &SdkError<E, R>) -> Option<SendError>
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let detail = |kind: &str| format!("{kind}: {}", DisplayErrorContext(err));
    let error = match err {
        SdkError::ConstructionFailure(_) => SendError::NotSent(detail("the request could not be built")),
        // The connector's own read timeout fires after the request was written: SES may have it.
        SdkError::DispatchFailure(failure) if failure.is_timeout() => SendError::Unknown(detail("no answer in time")),
        SdkError::DispatchFailure(_) => SendError::NotSent(detail("the request could not be sent")),
        SdkError::TimeoutError(_) => SendError::Unknown(detail("no answer in time")),
        SdkError::ResponseError(_) => SendError::Unknown(detail("SES's answer could not be read")),
        SdkError::ServiceError(_) => return None,
        _ => SendError::Unknown(detail("unexpected SDK failure")),
    };
    tracing::debug!(error = %error, "SES request failed before an answer");
    Some(error)
}

/// An SES error answer by its code and HTTP status, for codes the operation does not model.
fn service_error(code: Option<&str>, message: Option<&str>, status: Option<u16>) -> SendError {
    match code.unwrap_or_default() {
        "Throttling" | "ThrottlingException" | "TooManyRequestsException" => over_limit(code, message),
        "AccountSuspendedException"
        | "SendingPausedException"
        | "AccessDenied"
        | "AccessDeniedException"
        | "UnrecognizedClientException"
        | "InvalidClientTokenId"
        | "SignatureDoesNotMatch"
        | "InvalidSignatureException"
        | "MissingAuthenticationToken"
        | "ExpiredToken"
        | "ExpiredTokenException" => SendError::SendingDisabled(describe(code, message)),
        _ => match status {
            Some(429) => over_limit(code, message),
            // SES failed on its side: it may have taken the message before failing.
            Some(500..) | None => SendError::Unknown(describe(code, message)),
            // Any other client error: SES refused this request as made.
            Some(_) => SendError::Rejected(describe(code, message)),
        },
    }
}

/// A throttling answer: the daily quota when SES says so, the sending rate otherwise.
fn over_limit(code: Option<&str>, message: Option<&str>) -> SendError {
    if mentions(message, "daily message quota") || mentions(message, "sending quota") {
        SendError::QuotaExceeded
    } else {
        SendError::Throttled(describe(code, message))
    }
}

fn mentions(message: Option<&str>, phrase: &str) -> bool {
    message.is_some_and(|message| message.to_ascii_lowercase().contains(phrase))
}

fn describe(code: Option<&str>, message: Option<&str>) -> String {
    match (code, message) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        (Some(text), None) | (None, Some(text)) => text.to_owned(),
        (None, None) => "an unrecognised SES error".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // Tests unwrap: a panic is the failure report.

    use aws_sdk_sesv2::error::{ConnectorError, ErrorMetadata};
    use aws_sdk_sesv2::types::error::{
        AccountSuspendedException, BadRequestException, LimitExceededException, MailFromDomainNotVerifiedException,
        MessageRejected, NotFoundException, SendingPausedException, TooManyRequestsException,
    };
    use aws_smithy_types::body::SdkBody;
    use outpost_shared::campaigns::mail::Header;

    use super::*;

    fn response(status: u16) -> HttpResponse {
        HttpResponse::new(status.try_into().unwrap(), SdkBody::empty())
    }

    fn meta(code: &str, message: &str) -> ErrorMetadata {
        ErrorMetadata::builder().code(code).message(message).build()
    }

    fn answer(err: SendEmailError, status: u16) -> SendError {
        send_error(SdkError::service_error(err, response(status)))
    }

    /// An error code the SDK does not model for SendEmail.
    fn unmodelled(code: &str, message: &str, status: u16) -> SendError {
        answer(SendEmailError::generic(meta(code, message)), status)
    }

    #[test]
    fn refusals_of_the_message_are_rejections() {
        let rejected =
            MessageRejected::builder().meta(meta("MessageRejected", "Email address is not verified.")).build();
        assert_eq!(
            answer(SendEmailError::MessageRejected(rejected), 400),
            SendError::Rejected("MessageRejected: Email address is not verified.".to_owned())
        );
        let mail_from = MailFromDomainNotVerifiedException::builder()
            .meta(meta("MailFromDomainNotVerifiedException", "not verified"))
            .build();
        assert!(matches!(
            answer(SendEmailError::MailFromDomainNotVerifiedException(mail_from), 400),
            SendError::Rejected(_)
        ));
        let bad = BadRequestException::builder().meta(meta("BadRequestException", "Illegal header")).build();
        assert!(matches!(answer(SendEmailError::BadRequestException(bad), 400), SendError::Rejected(_)));
        assert!(matches!(unmodelled("InvalidParameterValue", "bad address", 400), SendError::Rejected(_)));
    }

    #[test]
    fn a_suspended_paused_or_misconfigured_account_disables_sending() {
        let suspended = AccountSuspendedException::builder().meta(meta("AccountSuspendedException", "x")).build();
        assert!(matches!(
            answer(SendEmailError::AccountSuspendedException(suspended), 400),
            SendError::SendingDisabled(_)
        ));
        let paused = SendingPausedException::builder().meta(meta("SendingPausedException", "x")).build();
        assert!(matches!(answer(SendEmailError::SendingPausedException(paused), 400), SendError::SendingDisabled(_)));
        let missing = NotFoundException::builder().meta(meta("NotFoundException", "no such configuration set")).build();
        assert!(matches!(answer(SendEmailError::NotFoundException(missing), 404), SendError::SendingDisabled(_)));
        assert!(matches!(unmodelled("AccessDeniedException", "no ses:SendEmail", 403), SendError::SendingDisabled(_)));
    }

    #[test]
    fn throttling_is_the_rate_unless_ses_names_the_daily_quota() {
        let too_many = |message: &str| {
            SendEmailError::TooManyRequestsException(
                TooManyRequestsException::builder().meta(meta("TooManyRequestsException", message)).build(),
            )
        };
        assert_eq!(
            answer(too_many("Maximum sending rate exceeded."), 429),
            SendError::Throttled("TooManyRequestsException: Maximum sending rate exceeded.".to_owned())
        );
        assert_eq!(answer(too_many("Daily message quota exceeded."), 429), SendError::QuotaExceeded);
        assert_eq!(unmodelled("Throttling", "Daily message quota exceeded.", 400), SendError::QuotaExceeded);
        assert!(matches!(
            unmodelled("ThrottlingException", "Maximum sending rate exceeded.", 400),
            SendError::Throttled(_)
        ));
        assert!(matches!(unmodelled("SlowDown", "later", 429), SendError::Throttled(_)));

        let limit = |message: &str| {
            SendEmailError::LimitExceededException(
                LimitExceededException::builder().meta(meta("LimitExceededException", message)).build(),
            )
        };
        assert_eq!(answer(limit("Daily message quota exceeded."), 400), SendError::QuotaExceeded);
        assert!(matches!(answer(limit("Maximum sending rate exceeded."), 400), SendError::Throttled(_)));
    }

    #[test]
    fn a_server_error_may_have_taken_the_message() {
        assert!(matches!(unmodelled("InternalFailure", "oops", 500), SendError::Unknown(_)));
        assert!(matches!(unmodelled("ServiceUnavailable", "later", 503), SendError::Unknown(_)));
    }

    #[test]
    fn only_failures_before_sending_are_not_sent() {
        let not_sent: SdkError<SendEmailError, HttpResponse> = SdkError::construction_failure("no region");
        assert!(matches!(send_error(not_sent), SendError::NotSent(_)));
        let refused = SdkError::dispatch_failure(ConnectorError::io("connection refused".into()));
        assert!(matches!(send_error(refused), SendError::NotSent(_)));

        let read_timeout = SdkError::dispatch_failure(ConnectorError::timeout("read timed out".into()));
        assert!(matches!(send_error(read_timeout), SendError::Unknown(_)));
        assert!(matches!(send_error(SdkError::timeout_error("operation timed out")), SendError::Unknown(_)));
        let garbled = SdkError::response_error("truncated body", response(200));
        assert!(matches!(send_error(garbled), SendError::Unknown(_)));
    }

    #[test]
    fn the_content_carries_subject_bodies_and_headers_in_utf8() {
        let message = OutgoingMessage {
            from: "News <news@example.com>".to_owned(),
            to: "ada@example.org".to_owned(),
            reply_to: None,
            subject: "Déjà vu".to_owned(),
            headers: vec![
                Header { name: "List-Unsubscribe".to_owned(), value: "<https://u.example/x>".to_owned() },
                Header { name: "List-Unsubscribe-Post".to_owned(), value: "List-Unsubscribe=One-Click".to_owned() },
            ],
            text: "Hello".to_owned(),
            html: "<p>Hello</p>".to_owned(),
            tags: vec![("campaign".to_owned(), "c1".to_owned())],
        };
        let content = email_content(&message).unwrap();
        let simple = content.simple().unwrap();
        let subject = simple.subject().unwrap();
        assert_eq!((subject.data(), subject.charset()), ("Déjà vu", Some(CHARSET)));
        let body = simple.body().unwrap();
        assert_eq!(body.text().map(|text| (text.data(), text.charset())), Some(("Hello", Some(CHARSET))));
        assert_eq!(body.html().map(|html| (html.data(), html.charset())), Some(("<p>Hello</p>", Some(CHARSET))));
        let headers: Vec<_> = simple.headers().iter().map(|header| (header.name(), header.value())).collect();
        assert_eq!(
            headers,
            [("List-Unsubscribe", "<https://u.example/x>"), ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click")]
        );
        let tags = email_tags(&message).unwrap();
        assert_eq!(tags.iter().map(|tag| (tag.name(), tag.value())).collect::<Vec<_>>(), [("campaign", "c1")]);
    }
}
