//! The SES v2 mailer against moto (`AWS_ENDPOINT_URL`, set by `infra/test.sh`): a message sent
//! with its headers, tags and reply-to counts against the account's quota, and a sender SES does
//! not know is refused for good.

#![allow(clippy::unwrap_used)] // Tests unwrap: a panic is the failure report.

use outpost_send::ses::SesMailer;
use outpost_shared::campaigns::mail::{Header, Mailer, OutgoingMessage, SendError};
use outpost_shared::crypto;
use outpost_shared::services::aws_config;

/// The functions' own SES v2 client (its HTTP connector included), on moto.
fn client() -> aws_sdk_sesv2::Client {
    assert!(
        std::env::var_os("AWS_ENDPOINT_URL").is_some(),
        "AWS_ENDPOINT_URL must name the moto server: run the tests through ./infra/test.sh"
    );
    aws_sdk_sesv2::Client::new(&aws_config().unwrap())
}

/// An address no other test uses, on a domain of its own.
fn unique_address(local: &str) -> String {
    format!("{local}@{}.example.com", &crypto::sha256_hex(crypto::random_token().as_bytes())[..12])
}

fn message(from: &str) -> OutgoingMessage {
    OutgoingMessage {
        from: format!("Outpost test <{from}>"),
        to: unique_address("member"),
        reply_to: Some(unique_address("replies")),
        subject: "Spring news".to_owned(),
        headers: vec![
            Header { name: "List-Unsubscribe".to_owned(), value: "<https://outpost.example/u/abc>".to_owned() },
            Header { name: "List-Unsubscribe-Post".to_owned(), value: "List-Unsubscribe=One-Click".to_owned() },
        ],
        text: "Hello".to_owned(),
        html: "<p>Hello</p>".to_owned(),
        tags: vec![("campaign".to_owned(), "c-1".to_owned()), ("org".to_owned(), "00D000000000001".to_owned())],
    }
}

#[tokio::test]
async fn a_message_from_a_verified_sender_is_sent_and_counted() {
    let client = client();
    let from = unique_address("news");
    client.create_email_identity().email_identity(&from).send().await.expect("verify the sender on moto");
    let mailer = SesMailer::new(client, None);

    let before = mailer.quota().await.unwrap();
    // moto's sandbox limits.
    assert_eq!((before.max_send_rate, before.max_24_hour_send), (1.0, 200.0));

    let id = mailer.send(&message(&from)).await.unwrap();
    assert!(!id.is_empty());

    let after = mailer.quota().await.unwrap();
    assert_eq!((after.max_send_rate, after.max_24_hour_send), (1.0, 200.0));
    assert_eq!(after.sent_last_24_hours, before.sent_last_24_hours + 1.0);
}

#[tokio::test]
async fn an_unverified_sender_is_rejected() {
    let mailer = SesMailer::new(client(), None);
    let from = unique_address("stranger");
    match mailer.send(&message(&from)).await {
        Err(SendError::Rejected(reason)) => assert!(reason.starts_with("MessageRejected"), "{reason}"),
        other => panic!("expected a rejection, got {other:?}"),
    }
}
