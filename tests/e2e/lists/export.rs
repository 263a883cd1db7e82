//! Exports: every member, the columns a spreadsheet needs and the fields the list filters on,
//! quoting that survives commas, quotes and line breaks, and cells a spreadsheet would run as a
//! formula neutralised. On the AWS backend the export goes to S3 (moto) behind a short-lived link.

use outpost_tests::StoreKind;
use outpost_tests::outpost_local::provision::UserKind;
use outpost_tests::outpost_shared::ids::RecordId;
use outpost_tests::outpost_shared::store::Recipient;
use serde_json::json;

use super::support::{Api, Pages, synced};
use crate::entry::reply::Reply;

on_both_stores!(exports_hold_every_member_safely);

async fn exports_hold_every_member_safely(store: StoreKind) {
    let stack = synced(store).await;
    let acme = stack.acme();
    let ada = stack.user(acme, UserKind::Known);
    let org = acme.registration.org_id;
    let services = &stack.stack.services;
    // Records as a careless import leaves them: formulas, quotes, commas and line breaks.
    let tricky = [
        ("003q000000Exp01", "=HYPERLINK(\"https://evil.example\",\"Click\")", "Doe, \"JD\"", "eq1@export.example"),
        ("003q000000Exp02", "+41 Ada", "Line\nbreak", "eq2@export.example"),
        ("003q000000Exp03", "@SUM(A1)", "-Minus", "eq3@export.example"),
    ];
    let recipients: Vec<Recipient> = tricky
        .iter()
        .map(|(id, first, last, email)| Recipient {
            first_name: Some((*first).to_owned()),
            last_name: Some((*last).to_owned()),
            email: Some((*email).to_owned()),
            country: Some("Exportland".into()),
            extra: [("Region__c".to_owned(), json!("EMEA"))].into_iter().collect(),
            ..Recipient::empty(RecordId::parse(id).unwrap(), 1)
        })
        .collect();
    services.store.write_recipients(&org, &recipients).await.unwrap();
    services.store.mark_recipients_changed(&org).await.unwrap();

    let api = Api::new(&stack, acme, ada);
    let list = api
        .create(&json!({"name": "Export me", "objects": ["Contact"], "conditions": [
            {"field": "Country", "op": "eq", "value": "exportland"}, {"field": "Region__c", "op": "eq", "value": "EMEA"}]}))
        .await;
    assert_eq!(list["count"], 3);
    let id = list["id"].as_str().unwrap();
    let pages = Pages::sign_in(&stack, acme, ada).await;
    let answer = pages.get(&format!("/app/lists/{id}/export")).await;
    let csv = match store {
        StoreKind::Embedded => {
            assert_eq!(answer.status, 200, "{answer:?}");
            answer
        }
        StoreKind::Moto => {
            assert_eq!(answer.status, 303, "the export is stored and linked: {answer:?}");
            let link = answer.location().unwrap();
            assert!(link.contains("X-Amz-Expires=300"), "a short-lived link: {link}");
            let fetched = Reply::send(stack.http.get(link)).await;
            assert_eq!(fetched.status, 200, "{fetched:?}");
            fetched
        }
    };
    assert!(csv.header("content-type").unwrap().starts_with("text/csv"), "{csv:?}");
    let disposition = csv.header("content-disposition").unwrap();
    assert!(disposition.starts_with("attachment; filename=\"outpost-export-me-"), "{disposition}");

    let mut reader = csv::Reader::from_reader(csv.body.as_bytes());
    let headers: Vec<String> = reader.headers().unwrap().iter().map(str::to_owned).collect();
    assert_eq!(
        headers,
        ["Id", "Object", "FirstName", "LastName", "Email", "Title", "Company", "Country", "OwnerId", "Region__c"],
        "the list's own condition fields follow the standard columns, once each"
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 3);
    let by_email = |email: &str| rows.iter().find(|row| &row[4] == email).unwrap().clone();
    let first = by_email("eq1@export.example");
    assert_eq!(&first[0], RecordId::parse("003q000000Exp01").unwrap().as_str());
    assert_eq!(&first[2], "'=HYPERLINK(\"https://evil.example\",\"Click\")", "a formula is neutralised");
    assert_eq!(&first[3], "Doe, \"JD\"", "quotes and commas survive");
    assert_eq!(&first[9], "EMEA");
    let second = by_email("eq2@export.example");
    assert_eq!((&second[2], &second[3]), ("'+41 Ada", "Line\nbreak"));
    let third = by_email("eq3@export.example");
    assert_eq!((&third[2], &third[3]), ("'@SUM(A1)", "'-Minus"));

    // The API exports the same file.
    let through_api = api.get(&format!("/api/v1/lists/{id}/export")).await;
    assert!(matches!(through_api.status.as_u16(), 200 | 303), "{through_api:?}");
    api.get("/api/v1/lists/AAAAAAAAAAAAAAAA/export").await.assert_refused(404, "list_not_found", "no such list");
}
