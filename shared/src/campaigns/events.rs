//! Amazon SES event publishing: the records a configuration set's event destination publishes to
//! SNS, as they reach the send function through SQS, and the records the local stack's mailbox
//! simulator publishes in their place.
//!
//! Only event publishing (`eventType`) is read: identity feedback notifications
//! (`notificationType`) carry no message tags, so they cannot be tied to a campaign.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::mail::OutgoingMessage;
use super::model::BounceKind;
use crate::salesforce::SfDateTime;

/// Salesforce's `EmailBouncedReason` holds at most this many characters.
const BOUNCED_REASON_MAX_CHARS: usize = 255;
/// The mailbox simulator's domain.
const SIMULATOR_DOMAIN: &str = "simulator.amazonses.com";
/// The configuration set simulated records name in `ses:configuration-set`.
const SIMULATED_CONFIGURATION_SET: &str = "outpost";
/// The account simulated records name (a placeholder, as other AWS emulators use).
const SIMULATED_ACCOUNT: &str = "000000000000";
const SIMULATED_REGION: &str = "us-east-1";

/// One SES event about one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailEvent {
    /// `mail.messageId`: the id SES's `SendEmail` answered, not the message's `Message-ID` header.
    pub message_id: String,
    /// `mail.tags`: the message's tags and SES's own (`ses:configuration-set`, …).
    pub tags: BTreeMap<String, Vec<String>>,
    pub kind: EventKind,
}

impl MailEvent {
    /// The first value of a tag the event carries.
    pub fn tag(&self, name: &str) -> Option<&str> {
        self.tags.get(name).and_then(|values| values.first()).map(String::as_str)
    }
}

/// What happened to the message. Addresses are as SES gives them (their case may differ from
/// the address sent to).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventKind {
    /// SES accepted the message and will try to deliver it.
    Send,
    /// The receiving server accepted the message for these recipients.
    Delivery { recipients: Vec<String>, at: SfDateTime },
    /// A hard bounce, or a soft one SES stopped retrying.
    Bounce {
        /// `None` when SES could not tell (`Undetermined`, or a type SES added since).
        kind: Option<BounceKind>,
        /// `bounceSubType`: `General`, `NoEmail`, `Suppressed`, `OnAccountSuppressionList`,
        /// `MailboxFull`, … (an open set).
        sub_type: String,
        recipients: Vec<BouncedRecipient>,
        at: SfDateTime,
    },
    /// A recipient reported the message as spam. Mailbox providers often redact the
    /// complainant, in which case SES lists every recipient on the complaining domain.
    Complaint {
        recipients: Vec<String>,
        /// `complaintFeedbackType` (`abuse`, `fraud`, `not-spam`, …) when a feedback report came.
        feedback_type: Option<String>,
        at: SfDateTime,
    },
    /// SES refused to send the message (`Bad content`: a virus).
    Reject { reason: String },
    /// Any other eventType (Open, Click, DeliveryDelay, Rendering Failure, Subscription...):
    /// ignored by callers.
    Other(String),
}

/// One address a bounce is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BouncedRecipient {
    pub address: String,
    /// The DSN's `Diagnostic-Code` (`smtp; 550 5.1.1 user unknown`), when one came.
    pub diagnostic_code: Option<String>,
    /// The DSN's `Status` (`5.1.1`), when one came.
    pub status: Option<String>,
}

impl BouncedRecipient {
    /// The text written to Salesforce's `EmailBouncedReason`: the diagnostic code when SES has
    /// one, else `<bounceType>/<bounceSubType>` and the status; at most 255 characters (the
    /// field's length). `kind` and `sub_type` are the bounce's, as in [`EventKind::Bounce`].
    pub fn reason(&self, kind: Option<BounceKind>, sub_type: &str) -> String {
        // Diagnostic codes may be folded over several lines: one line reads better in a field.
        let diagnostic =
            self.diagnostic_code.as_deref().map(|code| code.split_whitespace().collect::<Vec<_>>().join(" "));
        let mut reason = match diagnostic.filter(|code| !code.is_empty()) {
            Some(code) => code,
            None => {
                let kind = match kind {
                    Some(BounceKind::Permanent) => "Permanent",
                    Some(BounceKind::Transient) => "Transient",
                    None => "Undetermined",
                };
                match self.status.as_deref().map(str::trim).filter(|status| !status.is_empty()) {
                    Some(status) => format!("{kind}/{sub_type} ({status})"),
                    None => format!("{kind}/{sub_type}"),
                }
            }
        };
        if let Some((end, _)) = reason.char_indices().nth(BOUNCED_REASON_MAX_CHARS) {
            reason.truncate(end);
        }
        reason
    }
}

/// Why an SQS message is not an SES event Outpost can use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    /// Not JSON, or a field of the wrong shape.
    #[error("not a readable SES event: {0}")]
    Malformed(String),
    /// A field SES always sends for this kind of record is absent.
    #[error("the SES event has no {0}")]
    Missing(&'static str),
    /// An identity feedback notification (`notificationType`): SES sends these without the
    /// message's tags, so the sending identity's notifications must be off and the configuration
    /// set's event destination on instead.
    #[error(
        "an SES identity notification ({0}), not an event-publishing record: configure event publishing \
         (the configuration set's SNS event destination) and turn off the identity's feedback notifications"
    )]
    IdentityNotification(String),
    /// An SNS envelope of another type than `Notification` (`SubscriptionConfirmation`, …).
    #[error("an SNS {0} message, not a Notification")]
    NotANotification(String),
}

/// Parses an SQS message body: either the raw SES record (SNS raw message delivery) or an SNS
/// envelope `{"Type":"Notification","Message":"<json string>",...}` whose Message is the record.
pub fn parse_event(body: &str) -> Result<MailEvent, EventError> {
    let value: Value = serde_json::from_str(body).map_err(|error| EventError::Malformed(error.to_string()))?;
    match sns_message(&value)? {
        Some(message) => {
            let record: Value =
                serde_json::from_str(message).map_err(|error| EventError::Malformed(format!("Message: {error}")))?;
            parse_record(&record)
        }
        None => parse_record(&value),
    }
}

/// The record inside an SNS envelope; `None` when `value` is a record itself.
fn sns_message(value: &Value) -> Result<Option<&str>, EventError> {
    if value.get("eventType").is_some() || value.get("notificationType").is_some() {
        return Ok(None);
    }
    let Some(kind) = value.get("Type") else { return Ok(None) };
    let kind = kind.as_str().ok_or_else(|| EventError::Malformed("Type is not a string".into()))?;
    if kind != "Notification" {
        return Err(EventError::NotANotification(kind.to_owned()));
    }
    match value.get("Message") {
        Some(Value::String(message)) => Ok(Some(message)),
        Some(_) => Err(EventError::Malformed("Message is not a string".into())),
        None => Err(EventError::Missing("Message")),
    }
}

/// The parts of `mail` Outpost reads.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MailPart {
    message_id: Option<String>,
    tags: Option<BTreeMap<String, Vec<String>>>,
}

#[derive(Deserialize)]
struct DeliveryPart {
    recipients: Option<Vec<String>>,
    timestamp: Option<SfDateTime>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BouncePart {
    bounce_type: Option<String>,
    bounce_sub_type: Option<String>,
    bounced_recipients: Option<Vec<BouncedPart>>,
    timestamp: Option<SfDateTime>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BouncedPart {
    email_address: Option<String>,
    status: Option<String>,
    diagnostic_code: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ComplaintPart {
    complained_recipients: Option<Vec<ComplainedPart>>,
    complaint_feedback_type: Option<String>,
    timestamp: Option<SfDateTime>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ComplainedPart {
    email_address: Option<String>,
}

#[derive(Deserialize)]
struct RejectPart {
    reason: Option<String>,
}

/// Reads one event-publishing record.
fn parse_record(record: &Value) -> Result<MailEvent, EventError> {
    if !record.is_object() {
        return Err(EventError::Malformed("not a JSON object".into()));
    }
    let event_type = match record.get("eventType") {
        Some(Value::String(event_type)) => event_type.as_str(),
        Some(_) => return Err(EventError::Malformed("eventType is not a string".into())),
        None => {
            return Err(match record.get("notificationType").and_then(Value::as_str) {
                Some(notification) => EventError::IdentityNotification(notification.to_owned()),
                None => EventError::Missing("eventType"),
            });
        }
    };
    let mail: MailPart = part(record, "mail")?;
    let message_id = required(mail.message_id.filter(|id| !id.is_empty()), "mail.messageId")?;
    let kind = match event_type {
        "Send" => EventKind::Send,
        "Delivery" => {
            let delivery: DeliveryPart = part(record, "delivery")?;
            EventKind::Delivery {
                recipients: required(delivery.recipients, "delivery.recipients")?,
                at: required(delivery.timestamp, "delivery.timestamp")?,
            }
        }
        "Bounce" => {
            let bounce: BouncePart = part(record, "bounce")?;
            let kind = match required(bounce.bounce_type, "bounce.bounceType")?.as_str() {
                "Permanent" => Some(BounceKind::Permanent),
                "Transient" => Some(BounceKind::Transient),
                // `Undetermined`, and any type SES adds later: not known to be final or not.
                _ => None,
            };
            let recipients = required(bounce.bounced_recipients, "bounce.bouncedRecipients")?
                .into_iter()
                .map(|recipient| {
                    Ok(BouncedRecipient {
                        address: required(recipient.email_address, "bounce.bouncedRecipients[].emailAddress")?,
                        diagnostic_code: recipient.diagnostic_code,
                        status: recipient.status,
                    })
                })
                .collect::<Result<_, EventError>>()?;
            EventKind::Bounce {
                kind,
                sub_type: required(bounce.bounce_sub_type, "bounce.bounceSubType")?,
                recipients,
                at: required(bounce.timestamp, "bounce.timestamp")?,
            }
        }
        "Complaint" => {
            let complaint: ComplaintPart = part(record, "complaint")?;
            let recipients = required(complaint.complained_recipients, "complaint.complainedRecipients")?
                .into_iter()
                .map(|recipient| required(recipient.email_address, "complaint.complainedRecipients[].emailAddress"))
                .collect::<Result<_, EventError>>()?;
            EventKind::Complaint {
                recipients,
                feedback_type: complaint.complaint_feedback_type,
                at: required(complaint.timestamp, "complaint.timestamp")?,
            }
        }
        "Reject" => {
            let reject: RejectPart = part(record, "reject")?;
            EventKind::Reject { reason: required(reject.reason, "reject.reason")? }
        }
        other => EventKind::Other(other.to_owned()),
    };
    Ok(MailEvent { message_id, tags: mail.tags.unwrap_or_default(), kind })
}

/// The object under `key`, read into `T`; only the payload of the record's own type is read, so a
/// payload Outpost ignores can never fail a record.
fn part<T: DeserializeOwned>(record: &Value, key: &'static str) -> Result<T, EventError> {
    let value = record.get(key).filter(|value| !value.is_null()).ok_or(EventError::Missing(key))?;
    T::deserialize(value).map_err(|error| EventError::Malformed(format!("{key}: {error}")))
}

fn required<T>(value: Option<T>, field: &'static str) -> Result<T, EventError> {
    value.ok_or(EventError::Missing(field))
}

/// The simulated mailbox's verdict for an address, as SES's mailbox simulator gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Simulated {
    /// Delivered.
    Success,
    /// A hard bounce: `550 5.1.1` unknown user.
    Bounce,
    /// Delivered, then reported as spam.
    Complaint,
}

/// What the mailbox simulator does with mail to `address`, or `None` for an address it does not
/// simulate: `success@`, `bounce@`, `complaint@` and `ooto@` (delivered; its auto-reply is no
/// event) at `simulator.amazonses.com`, in any case, with or without a `+label`.
pub fn simulator_outcome(address: &str) -> Option<Simulated> {
    let address = address.trim().to_ascii_lowercase();
    let (local, domain) = address.rsplit_once('@')?;
    if domain != SIMULATOR_DOMAIN {
        return None;
    }
    let mailbox = local.split_once('+').map_or(local, |(mailbox, _label)| mailbox);
    match mailbox {
        "success" | "ooto" => Some(Simulated::Success),
        "bounce" => Some(Simulated::Bounce),
        "complaint" => Some(Simulated::Complaint),
        // `suppressionlist@` bounces as a suppressed address, which these records do not imitate.
        _ => None,
    }
}

/// The event-publishing records SES would publish for `message` sent as `message_id`, in order,
/// when `message.to` is a simulator address (none otherwise): Success → Send, Delivery;
/// Bounce → Send, Bounce (Permanent/General, `5.1.1`); Complaint → Send, Delivery, Complaint
/// (`abuse`). `mail.timestamp` is `at`; the delivery or bounce follows a second later, the
/// complaint two. `mail.tags` carries the message's tags and `ses:configuration-set`.
pub fn simulated_events(message: &OutgoingMessage, message_id: &str, at: SfDateTime) -> Vec<String> {
    let Some(outcome) = simulator_outcome(&message.to) else { return Vec::new() };
    let mail = simulated_mail(message, message_id, at);
    let to = message.to.as_str();
    let later = ses_timestamp(at.plus_seconds(1));
    let record = |event_type: &str, key: &str, payload: Value| {
        json!({ "eventType": event_type, "mail": mail, key: payload }).to_string()
    };
    let send = record("Send", "send", json!({}));
    let delivery = || {
        record(
            "Delivery",
            "delivery",
            json!({
                "timestamp": later,
                "processingTimeMillis": 1000,
                "recipients": [to],
                "smtpResponse": "250 2.6.0 Message received",
                "reportingMTA": SIMULATOR_DOMAIN,
            }),
        )
    };
    match outcome {
        Simulated::Success => vec![send, delivery()],
        Simulated::Bounce => {
            let bounce = json!({
                "bounceType": "Permanent",
                "bounceSubType": "General",
                "bouncedRecipients": [{
                    "emailAddress": to,
                    "action": "failed",
                    "status": "5.1.1",
                    "diagnosticCode": "smtp; 550 5.1.1 user unknown",
                }],
                "timestamp": later,
                "feedbackId": format!("{message_id}-bounce"),
                "reportingMTA": format!("dsn; {SIMULATOR_DOMAIN}"),
            });
            vec![send, record("Bounce", "bounce", bounce)]
        }
        Simulated::Complaint => {
            let complained = ses_timestamp(at.plus_seconds(2));
            let complaint = json!({
                "complainedRecipients": [{ "emailAddress": to }],
                "timestamp": complained,
                "feedbackId": format!("{message_id}-complaint"),
                "complaintSubType": null,
                "userAgent": "Amazon SES Mailbox Simulator",
                "complaintFeedbackType": "abuse",
                "arrivalDate": complained,
            });
            vec![send, delivery(), record("Complaint", "complaint", complaint)]
        }
    }
}

/// The `mail` object every record of `message` repeats.
fn simulated_mail(message: &OutgoingMessage, message_id: &str, at: SfDateTime) -> Value {
    let mut headers =
        vec![json!({ "name": "From", "value": message.from }), json!({ "name": "To", "value": message.to })];
    if let Some(reply_to) = &message.reply_to {
        headers.push(json!({ "name": "Reply-To", "value": reply_to }));
    }
    headers.extend([
        json!({ "name": "Subject", "value": message.subject }),
        json!({ "name": "MIME-Version", "value": "1.0" }),
        json!({ "name": "Content-Type", "value": "multipart/alternative; boundary=\"outpost-simulated\"" }),
    ]);
    headers.extend(message.headers.iter().map(|header| json!({ "name": header.name, "value": header.value })));
    let mut tags: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (name, value) in &message.tags {
        tags.entry(name).or_default().push(value);
    }
    tags.insert("ses:configuration-set", vec![SIMULATED_CONFIGURATION_SET]);
    json!({
        "timestamp": ses_timestamp(at),
        "source": message.from,
        "sourceArn": format!(
            "arn:aws:ses:{SIMULATED_REGION}:{SIMULATED_ACCOUNT}:identity/{}",
            sender_domain(&message.from)
        ),
        "sendingAccountId": SIMULATED_ACCOUNT,
        "messageId": message_id,
        "destination": [message.to],
        "headersTruncated": false,
        "headers": headers,
        "commonHeaders": {
            "from": [message.from],
            "to": [message.to],
            "messageId": message_id,
            "subject": message.subject,
        },
        "tags": tags,
    })
}

/// The domain of a From address, bare or `Name <address>`.
fn sender_domain(from: &str) -> &str {
    let address = from.rsplit_once('<').map_or(from, |(_name, rest)| rest.trim().trim_end_matches('>'));
    address.rsplit_once('@').map_or(address, |(_local, domain)| domain).trim()
}

/// `2016-10-19T23:21:04.133Z`: how SES writes its timestamps (Salesforce's form, in Z).
fn ses_timestamp(at: SfDateTime) -> String {
    let salesforce = at.to_string();
    format!("{}Z", salesforce.strip_suffix("+0000").unwrap_or(&salesforce))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::campaigns::mail::Header;

    const SEND: &str = include_str!("fixtures/ses/send.json");
    const DELIVERY: &str = include_str!("fixtures/ses/delivery.json");
    const BOUNCE: &str = include_str!("fixtures/ses/bounce.json");
    const COMPLAINT: &str = include_str!("fixtures/ses/complaint.json");
    const REJECT: &str = include_str!("fixtures/ses/reject.json");
    const DELIVERY_DELAY: &str = include_str!("fixtures/ses/delivery-delay.json");
    const IDENTITY_BOUNCE: &str = include_str!("fixtures/ses/identity-bounce.json");

    /// The documented examples' SES message id.
    const MESSAGE_ID: &str = "EXAMPLE7c191be45-e9aedb9a-02f9-4d12-a87d-dd0099a07f8a-000000";

    fn at(iso: &str) -> SfDateTime {
        SfDateTime::parse(iso).unwrap()
    }

    fn tags(pairs: &[(&str, &str)]) -> BTreeMap<String, Vec<String>> {
        pairs.iter().map(|(name, value)| ((*name).to_owned(), vec![(*value).to_owned()])).collect()
    }

    /// The documented SNS envelope, carrying `record` as its Message.
    fn envelope(record: &str) -> String {
        json!({
            "Type": "Notification",
            "MessageId": "dc1e94d9-56c5-5e96-808d-cc7f68faa162",
            "TopicArn": "arn:aws:sns:us-east-2:111122223333:ExampleTopic1",
            "Message": record,
            "Timestamp": "2021-02-16T21:41:19.978Z",
            "SignatureVersion": "1",
            "Signature": "FMG5tlZhJNHLHUXvZgtZzlk24FzVa7oX0T4P03neeXw8ZEXZx6z35j2FOTuNYShn2h0bKNC/zLTnMyIxEzmi2X1sh==",
            "SigningCertURL": "https://sns.us-east-2.amazonaws.com/SimpleNotificationService-010a507c1833636cd94bdb98bd93083a.pem",
            "UnsubscribeURL": "https://sns.us-east-2.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=arn:aws:sns:us-east-2:111122223333:ExampleTopic1:e1039402-24e7-40a3-a0d4-797da162b297",
        })
        .to_string()
    }

    /// The documented bounce with `edit` applied to its `bounce` object.
    fn edited_bounce(edit: impl FnOnce(&mut serde_json::Map<String, Value>)) -> String {
        let mut record: Value = serde_json::from_str(BOUNCE).unwrap();
        edit(record["bounce"].as_object_mut().unwrap());
        record.to_string()
    }

    #[test]
    fn reads_the_documented_send_record() {
        let event = parse_event(SEND).unwrap();
        assert_eq!(event.message_id, MESSAGE_ID);
        assert_eq!(event.kind, EventKind::Send);
        assert_eq!(
            event.tags,
            tags(&[
                ("ses:configuration-set", "ConfigSet"),
                ("ses:source-ip", "192.0.2.0"),
                ("ses:from-domain", "example.com"),
                ("ses:caller-identity", "ses_user"),
                ("myCustomTag1", "myCustomTagValue1"),
                ("myCustomTag2", "myCustomTagValue2"),
            ])
        );
        assert_eq!(event.tag("myCustomTag1"), Some("myCustomTagValue1"));
        assert_eq!(event.tag("ses:configuration-set"), Some("ConfigSet"));
        assert_eq!(event.tag("campaign"), None);
    }

    #[test]
    fn reads_the_documented_delivery_record() {
        let event = parse_event(DELIVERY).unwrap();
        assert_eq!(event.message_id, MESSAGE_ID);
        assert_eq!(event.tag("ses:outgoing-ip"), Some("192.0.2.0"));
        assert_eq!(event.tag("myCustomTag2"), Some("myCustomTagValue2"));
        let EventKind::Delivery { recipients, at } = event.kind else { panic!("{:?}", event.kind) };
        assert_eq!(recipients, ["recipient@example.com"]);
        // delivery.timestamp (2016-10-19T23:21:04.133Z), not mail.timestamp.
        assert_eq!(at.millis(), 1_476_919_264_133);
    }

    #[test]
    fn reads_the_documented_bounce_record() {
        let event = parse_event(BOUNCE).unwrap();
        assert_eq!(event.message_id, MESSAGE_ID);
        assert_eq!(
            event.tags,
            tags(&[
                ("ses:configuration-set", "ConfigSet"),
                ("ses:source-ip", "192.0.2.0"),
                ("ses:from-domain", "example.com"),
                ("ses:caller-identity", "ses_user"),
            ])
        );
        let EventKind::Bounce { kind, sub_type, recipients, at } = event.kind else { panic!("{:?}", event.kind) };
        assert_eq!(kind, Some(BounceKind::Permanent));
        assert_eq!(sub_type, "General");
        assert_eq!(
            recipients,
            [BouncedRecipient {
                address: "recipient@example.com".into(),
                diagnostic_code: Some("smtp; 550 5.1.1 user unknown".into()),
                status: Some("5.1.1".into()),
            }]
        );
        assert_eq!(recipients[0].reason(kind, &sub_type), "smtp; 550 5.1.1 user unknown");
        // 2017-08-05T00:41:02.669Z
        assert_eq!(at.millis(), 1_501_893_662_669);
    }

    #[test]
    fn reads_the_documented_complaint_record() {
        let event = parse_event(COMPLAINT).unwrap();
        assert_eq!(event.message_id, MESSAGE_ID);
        assert_eq!(event.tag("ses:configuration-set"), Some("ConfigSet"));
        assert_eq!(
            event.kind,
            EventKind::Complaint {
                recipients: vec!["recipient@example.com".into()],
                feedback_type: Some("abuse".into()),
                at: SfDateTime::from_millis(1_501_893_662_669),
            }
        );
    }

    #[test]
    fn reads_the_documented_reject_and_passes_other_types_through() {
        let reject = parse_event(REJECT).unwrap();
        assert_eq!(reject.message_id, MESSAGE_ID);
        assert_eq!(reject.kind, EventKind::Reject { reason: "Bad content".into() });

        let delay = parse_event(DELIVERY_DELAY).unwrap();
        assert_eq!(delay.message_id, MESSAGE_ID);
        assert_eq!(delay.tags, tags(&[("ses:configuration-set", "ConfigSet")]));
        assert_eq!(delay.kind, EventKind::Other("DeliveryDelay".into()));

        // An Open record's payload is never read, whatever its shape.
        let mut open: Value = serde_json::from_str(SEND).unwrap();
        open["eventType"] = json!("Open");
        open["open"] = json!("an unexpected shape");
        assert_eq!(parse_event(&open.to_string()).unwrap().kind, EventKind::Other("Open".into()));
    }

    #[test]
    fn an_sns_envelope_reads_as_its_record() {
        for record in [SEND, DELIVERY, BOUNCE, COMPLAINT, REJECT, DELIVERY_DELAY] {
            assert_eq!(parse_event(&envelope(record)).unwrap(), parse_event(record).unwrap());
        }
    }

    #[test]
    fn an_sns_envelope_without_a_record_is_refused() {
        let mut confirmation: Value = serde_json::from_str(&envelope("{}")).unwrap();
        confirmation["Type"] = json!("SubscriptionConfirmation");
        assert_eq!(
            parse_event(&confirmation.to_string()),
            Err(EventError::NotANotification("SubscriptionConfirmation".into()))
        );
        // SNS's own test message is not JSON.
        assert!(matches!(parse_event(&envelope("This is a test message.")), Err(EventError::Malformed(_))));
        // One envelope inside another is not a record.
        assert_eq!(parse_event(&envelope(&envelope(SEND))), Err(EventError::Missing("eventType")));
        let mut without_message: Value = serde_json::from_str(&envelope(SEND)).unwrap();
        without_message.as_object_mut().unwrap().remove("Message");
        assert_eq!(parse_event(&without_message.to_string()), Err(EventError::Missing("Message")));
    }

    #[test]
    fn reads_transient_and_undetermined_bounces() {
        let transient = edited_bounce(|bounce| {
            bounce.insert("bounceType".into(), json!("Transient"));
            bounce.insert("bounceSubType".into(), json!("MailboxFull"));
            bounce["bouncedRecipients"][0].as_object_mut().unwrap().remove("diagnosticCode");
            // SES may add fields.
            bounce.insert("remoteMtaIp".into(), json!("127.0.2.0"));
        });
        let EventKind::Bounce { kind, sub_type, recipients, .. } = parse_event(&transient).unwrap().kind else {
            panic!("not a bounce")
        };
        assert_eq!((kind, sub_type.as_str()), (Some(BounceKind::Transient), "MailboxFull"));
        assert_eq!(recipients[0].diagnostic_code, None);
        assert_eq!(recipients[0].reason(kind, &sub_type), "Transient/MailboxFull (5.1.1)");

        // Without a DSN SES sends only the address.
        let undetermined = edited_bounce(|bounce| {
            bounce.insert("bounceType".into(), json!("Undetermined"));
            bounce.insert("bounceSubType".into(), json!("Undetermined"));
            bounce.insert("bouncedRecipients".into(), json!([{ "emailAddress": "Recipient@Example.com" }]));
        });
        let EventKind::Bounce { kind, sub_type, recipients, .. } = parse_event(&undetermined).unwrap().kind else {
            panic!("not a bounce")
        };
        assert_eq!((kind, sub_type.as_str()), (None, "Undetermined"));
        assert_eq!(
            recipients,
            [BouncedRecipient { address: "Recipient@Example.com".into(), diagnostic_code: None, status: None }]
        );
        assert_eq!(recipients[0].reason(kind, &sub_type), "Undetermined/Undetermined");
    }

    #[test]
    fn refuses_identity_notifications_with_the_fix() {
        let error = parse_event(IDENTITY_BOUNCE).unwrap_err();
        assert_eq!(error, EventError::IdentityNotification("Bounce".into()));
        assert!(error.to_string().contains("configure event publishing"), "{error}");
        assert_eq!(parse_event(&envelope(IDENTITY_BOUNCE)), Err(error));
    }

    #[test]
    fn refuses_garbage_and_incomplete_records() {
        for garbage in ["", "not json", "[]", "42", "{\"eventType\": 7}", "{\"eventType\": \"Send\", \"mail\": []}"] {
            assert!(matches!(parse_event(garbage), Err(EventError::Malformed(_))), "{garbage:?}");
        }
        assert_eq!(parse_event("{}"), Err(EventError::Missing("eventType")));
        assert_eq!(parse_event("{\"eventType\": \"Send\"}"), Err(EventError::Missing("mail")));
        assert_eq!(
            parse_event("{\"eventType\": \"Send\", \"mail\": {\"messageId\": \"\"}}"),
            Err(EventError::Missing("mail.messageId"))
        );
        let mut without_payload: Value = serde_json::from_str(BOUNCE).unwrap();
        without_payload.as_object_mut().unwrap().remove("bounce");
        assert_eq!(parse_event(&without_payload.to_string()), Err(EventError::Missing("bounce")));
        let without_timestamp = edited_bounce(|bounce| {
            bounce.remove("timestamp");
        });
        assert_eq!(parse_event(&without_timestamp), Err(EventError::Missing("bounce.timestamp")));
        let bad_timestamp = edited_bounce(|bounce| {
            bounce.insert("timestamp".into(), json!("yesterday"));
        });
        assert!(matches!(parse_event(&bad_timestamp), Err(EventError::Malformed(_))));
        let no_address = edited_bounce(|bounce| {
            bounce.insert("bouncedRecipients".into(), json!([{ "status": "5.1.1" }]));
        });
        assert_eq!(parse_event(&no_address), Err(EventError::Missing("bounce.bouncedRecipients[].emailAddress")));
    }

    #[test]
    fn knows_the_simulator_addresses() {
        for (address, outcome) in [
            ("success@simulator.amazonses.com", Some(Simulated::Success)),
            ("ooto@simulator.amazonses.com", Some(Simulated::Success)),
            ("bounce@simulator.amazonses.com", Some(Simulated::Bounce)),
            ("complaint@simulator.amazonses.com", Some(Simulated::Complaint)),
            ("Bounce@Simulator.AmazonSES.com", Some(Simulated::Bounce)),
            ("success+label1@simulator.amazonses.com", Some(Simulated::Success)),
            ("bounce+a0Ak000001@simulator.amazonses.com", Some(Simulated::Bounce)),
            (" complaint+x@simulator.amazonses.com ", Some(Simulated::Complaint)),
            ("suppressionlist@simulator.amazonses.com", None),
            ("other@simulator.amazonses.com", None),
            ("success@example.com", None),
            ("success@simulator.amazonses.com.example.com", None),
            ("simulator.amazonses.com", None),
        ] {
            assert_eq!(simulator_outcome(address), outcome, "{address}");
        }
    }

    fn message(to: &str) -> OutgoingMessage {
        OutgoingMessage {
            from: "Acme News <news@acme.example>".into(),
            to: to.into(),
            reply_to: Some("help@acme.example".into()),
            subject: "Spring \"sale\" ✓".into(),
            headers: vec![Header {
                name: "List-Unsubscribe".into(),
                value: "<https://outpost.example/u/opaque>".into(),
            }],
            text: "Hello".into(),
            html: "<p>Hello</p>".into(),
            tags: vec![("campaign".into(), "c0ffee".into()), ("org".into(), "00D000000000001".into())],
        }
    }

    #[test]
    fn simulated_events_read_back_as_ses_would_publish_them() {
        let sent = at("2024-05-01T12:00:00.250Z");
        let expected_tags =
            tags(&[("campaign", "c0ffee"), ("org", "00D000000000001"), ("ses:configuration-set", "outpost")]);
        let read = |to: &str| -> Vec<EventKind> {
            simulated_events(&message(to), "sim-1", sent)
                .iter()
                .map(|record| {
                    let event = parse_event(record).unwrap();
                    assert_eq!(event.message_id, "sim-1");
                    assert_eq!(event.tags, expected_tags);
                    event.kind
                })
                .collect()
        };
        let to = "Success+x@simulator.amazonses.com";
        let delivered = EventKind::Delivery { recipients: vec![to.into()], at: sent.plus_seconds(1) };
        assert_eq!(read(to), [EventKind::Send, delivered]);

        let to = "bounce@simulator.amazonses.com";
        let bounced = BouncedRecipient {
            address: to.into(),
            diagnostic_code: Some("smtp; 550 5.1.1 user unknown".into()),
            status: Some("5.1.1".into()),
        };
        let bounce = EventKind::Bounce {
            kind: Some(BounceKind::Permanent),
            sub_type: "General".into(),
            recipients: vec![bounced],
            at: sent.plus_seconds(1),
        };
        assert_eq!(read(to), [EventKind::Send, bounce]);

        let to = "complaint@simulator.amazonses.com";
        let delivered = EventKind::Delivery { recipients: vec![to.into()], at: sent.plus_seconds(1) };
        let complaint = EventKind::Complaint {
            recipients: vec![to.into()],
            feedback_type: Some("abuse".into()),
            at: sent.plus_seconds(2),
        };
        assert_eq!(read(to), [EventKind::Send, delivered, complaint]);

        assert!(simulated_events(&message("someone@example.com"), "sim-1", sent).is_empty());
    }

    #[test]
    fn simulated_records_have_the_documented_shape() {
        let records = simulated_events(&message("bounce@simulator.amazonses.com"), "sim-2", at("2024-05-01T12:00:00Z"));
        let bounce: Value = serde_json::from_str(&records[1]).unwrap();
        let mail = &bounce["mail"];
        assert_eq!(bounce["eventType"], "Bounce");
        assert_eq!(mail["timestamp"], "2024-05-01T12:00:00.000Z");
        assert_eq!(mail["source"], "Acme News <news@acme.example>");
        assert_eq!(mail["sourceArn"], "arn:aws:ses:us-east-1:000000000000:identity/acme.example");
        assert_eq!(mail["sendingAccountId"], "000000000000");
        assert_eq!(mail["destination"], json!(["bounce@simulator.amazonses.com"]));
        assert_eq!(mail["headersTruncated"], false);
        assert_eq!(mail["commonHeaders"]["subject"], "Spring \"sale\" ✓");
        assert_eq!(mail["commonHeaders"]["messageId"], "sim-2");
        assert!(mail["headers"].as_array().unwrap().contains(&json!({
            "name": "List-Unsubscribe",
            "value": "<https://outpost.example/u/opaque>",
        })));
        assert_eq!(mail["tags"]["campaign"], json!(["c0ffee"]));
        assert_eq!(bounce["bounce"]["bouncedRecipients"][0]["action"], "failed");
        assert_eq!(bounce["bounce"]["timestamp"], "2024-05-01T12:00:01.000Z");
        let send: Value = serde_json::from_str(&records[0]).unwrap();
        assert_eq!(send["send"], json!({}));
    }

    #[test]
    fn the_bounced_reason_fits_salesforce() {
        let recipient = |code: &str| BouncedRecipient {
            address: "a@example.com".into(),
            diagnostic_code: Some(code.into()),
            status: Some("5.2.2".into()),
        };
        // Multi-byte characters: the cut falls between characters, not bytes.
        let long = format!("smtp; 552 {}", "é".repeat(300));
        let reason = recipient(&long).reason(Some(BounceKind::Transient), "MailboxFull");
        assert_eq!(reason.chars().count(), 255);
        assert!(long.starts_with(&reason));
        let exact = "x".repeat(255);
        assert_eq!(recipient(&exact).reason(None, "Undetermined"), exact);
        assert_eq!(
            recipient("smtp; 550-5.1.1 The email account\r\n    does not exist.").reason(None, "x"),
            "smtp; 550-5.1.1 The email account does not exist."
        );
        assert_eq!(recipient("  ").reason(Some(BounceKind::Permanent), "NoEmail"), "Permanent/NoEmail (5.2.2)");
    }
}
