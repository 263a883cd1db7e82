//! The campaign pages without a script: a campaign written from a list's page, a refused form
//! shown again as typed with the field marked, the preview rendered for a member, a test send,
//! Send and the totals, the recipients search and the results CSV; forms refused without their
//! CSRF token, and another org's campaign not found.

use std::time::Duration;

use outpost_tests::StackOptions;
use outpost_tests::outpost_local::provision::UserKind;
use outpost_tests::salesforce_sim::SObject;
use serde_json::Value;

use super::support::*;
use crate::entry::reply::Reply;
use crate::lists::Pages;

/// More than the campaign routes read (`campaigns::MAX_CAMPAIGN_BODY`, 2 MB and 64 KB).
const PAST_THE_LIMIT: usize = 3 * 1024 * 1024;

/// The text of the textarea `id` as a browser reads it: entities decoded, and the newline that
/// follows the start tag dropped (HTML parsers drop it).
fn textarea(reply: &Reply, id: &str) -> String {
    let start = reply.body.find(&format!("<textarea id=\"{id}\"")).unwrap_or_else(|| panic!("no textarea {id}"));
    let open = reply.body[start..].find('>').unwrap() + start + 1;
    let close = reply.body[open..].find("</textarea>").unwrap() + open;
    let raw = &reply.body[open..close];
    unescape(raw.strip_prefix('\n').unwrap_or(raw))
}

/// Decodes the entities askama writes.
fn unescape(text: &str) -> String {
    text.replace("&#60;", "<").replace("&#62;", ">").replace("&#34;", "\"").replace("&#39;", "'").replace("&#38;", "&")
}

/// The text of the element with `id`, up to its first child element, decoded.
fn text_of(reply: &Reply, id: &str) -> String {
    let marker = format!("id=\"{id}\"");
    let start = reply.body.find(&marker).unwrap_or_else(|| panic!("no #{id} in {}", reply.body)) + marker.len();
    let open = reply.body[start..].find('>').unwrap() + start + 1;
    let close = reply.body[open..].find('<').unwrap() + open;
    unescape(&reply.body[open..close])
}

/// The campaign a `303` to `/app/campaigns/{id}[?done=]` names, and its `done`.
fn campaign_of(reply: &Reply) -> (String, Option<String>) {
    assert_eq!(reply.status, 303, "{reply:?}");
    let location = reply.location().expect("a location");
    let rest = location.strip_prefix("/app/campaigns/").unwrap_or_else(|| panic!("{location}"));
    let (id, done) = match rest.split_once("?done=") {
        Some((id, done)) => (id, Some(done.to_owned())),
        None => (rest, None),
    };
    assert_eq!(id.len(), 16, "{location}");
    (id.to_owned(), done)
}

/// The campaign form's fields with `body`'s values (the API's campaign body), and the token.
fn form_of<'a>(csrf: &'a str, body: &'a Value) -> Vec<(&'a str, &'a str)> {
    let value = |name: &str| body[name].as_str().unwrap();
    vec![
        ("csrf", csrf),
        ("list_id", value("list_id")),
        ("subject", value("subject")),
        ("from", value("from")),
        ("reply_to", value("reply_to")),
        ("html", value("html")),
        ("text", value("text")),
    ]
}

#[tokio::test]
async fn a_campaign_is_written_previewed_tested_and_sent_without_a_script() {
    let stack = stack(StackOptions::default()).await;
    let api = api(&stack);
    let (list, members) = everyone(&api).await;
    let acme = stack.acme();
    let pages = Pages::sign_in(&stack, acme, stack.user(acme, UserKind::Known)).await;
    let csrf = pages.csrf().await;

    // From the list's page to a form with the list chosen and starter bodies.
    assert!(pages.get("/app").await.body.contains("href=\"/app/campaigns\""), "the home page links the campaigns");
    let list_page = pages.get(&format!("/app/lists/{list}")).await;
    let write = format!("/app/campaigns/new?list={list}");
    assert!(list_page.body.contains(&format!("href=\"{write}\"")), "the list links a campaign to it");
    let new = pages.get(&write).await;
    assert_eq!(new.status, 200, "{new:?}");
    assert!(new.body.contains(&format!("<option value=\"{list}\" selected>Everyone</option>")), "{}", new.body);
    assert!(new.body.contains("any address at acme.example"), "the allowed senders are the hint");
    for part in ["html", "text"] {
        assert!(textarea(&new, part).contains("{{unsubscribe_url}}"), "the starter {part} body can be saved as is");
    }
    assert!(new.body.contains("{{FirstName|there}}") && new.body.contains("{{Company}}"), "merge fields explained");
    let csp = new.header("content-security-policy").unwrap();
    assert!(!csp.contains("unsafe-inline") && !csp.contains("script-src"), "{csp}");

    // A refused form comes back as typed, the field at fault marked; an HTML body survives.
    let body = body(&list);
    let tricky = "\n<p title='a \"quote\"'>Tom &amp; Jerry &lt;3</p>\r\n<p>{{FirstName}}</p>\n";
    let mut unlinked = form_of(&csrf, &body);
    unlinked[5].1 = tricky;
    let refused = pages.post("/app/campaigns", &unlinked).await;
    assert_eq!(refused.status, 400, "{refused:?}");
    assert!(refused.body.contains("aria-invalid=\"true\" aria-describedby=\"html-error\""), "{}", refused.body);
    assert!(text_of(&refused, "html-error").contains("must contain {{unsubscribe_url}}"), "{}", refused.body);
    assert_eq!(textarea(&refused, "html"), tricky, "the HTML body is kept exactly");
    assert_eq!(textarea(&refused, "text"), body["text"].as_str().unwrap());
    assert!(refused.body.contains("value=\"Spring news for {{FirstName|you}}\""), "the subject is kept");
    let mut foreign_sender = form_of(&csrf, &body);
    foreign_sender[3].1 = "ceo@elsewhere.example";
    let refused = pages.post("/app/campaigns", &foreign_sender).await;
    assert_eq!(refused.status, 400);
    assert!(refused.body.contains("id=\"from-error\""), "{}", refused.body);
    assert!(refused.body.contains("value=\"ceo@elsewhere.example\""));
    let mut no_list = form_of(&csrf, &body);
    no_list[1].1 = "AAAAAAAAAAAAAAAA";
    assert_eq!(pages.post("/app/campaigns", &no_list).await.status, 404);
    let org = acme.registration.org_id;
    assert!(stack.stack.services.store.campaigns(&org).await.unwrap().is_empty(), "nothing refused was saved");

    let (id, _) = campaign_of(&pages.post("/app/campaigns", &form_of(&csrf, &body)).await);
    let page = format!("/app/campaigns/{id}");
    let draft = pages.get(&page).await;
    assert_eq!(draft.status, 200, "{draft:?}");
    assert!(draft.body.contains("data-status=\"draft\""));
    assert!(draft.body.contains(&format!("action=\"{page}/send\"")), "a draft offers Send");
    assert!(!draft.body.contains(&format!("action=\"{page}/pause\"")), "and no Pause");
    // The preview renders for the first member by default, with the postal address at the end.
    let text = text_of(&draft, "preview-text");
    assert!(text.starts_with("Hello ") && text.contains("Unsubscribe: #unsubscribe-preview"), "{text}");
    assert!(text.ends_with("San Francisco, CA 94105\nUnited States\n"), "{text}");
    // The HTML body is a document of its own, framed by the page: its styles apply, nothing runs.
    assert!(draft.body.contains(&format!("src=\"{page}/preview.html?preview=")), "{}", draft.body);
    let html = pages.get(&format!("{page}/preview.html")).await;
    assert_eq!(html.status, 200, "{html:?}");
    assert!(html.body.starts_with("<html><body><p>Hello "), "{}", html.body);
    assert!(html.body.contains("1 Market Street<br>"), "the HTML carries the address too");
    let csp = html.header("content-security-policy").unwrap();
    assert!(
        csp.contains("sandbox") && csp.contains("style-src 'unsafe-inline'") && !csp.contains("script-src"),
        "{csp}"
    );
    let framing = draft.header("content-security-policy").unwrap();
    assert!(framing.contains("frame-src 'self'"), "{framing}");
    // … or for the member asked for.
    let member_ids = api.member_ids(&list).await;
    let member = stack
        .sim(acme)
        .records(SObject::Contact)
        .into_iter()
        .filter(|record| member_ids.contains(&record.id.as_str().to_owned()))
        .find(|record| record.first_name.as_deref().is_some_and(|name| name.chars().all(char::is_alphanumeric)))
        .expect("a member with a plain first name");
    let first = member.first_name.clone().unwrap();
    let previewed = pages.get(&format!("{page}?preview={}", member.id.as_str())).await;
    assert_eq!(text_of(&previewed, "preview-subject"), format!("Spring news for {first}"));
    assert!(text_of(&previewed, "preview-text").starts_with(&format!("Hello {first},")));
    assert!(previewed.body.contains(&format!("<option value=\"{}\" selected>", member.id.as_str())));
    let stranger = pages.get(&format!("{page}?preview=003000000000000AAA")).await;
    assert!(stranger.body.contains("not a member of the list"), "{}", stranger.body);

    // A test send: refused with the field marked, then sent to the outbox's tests.
    let bad_test = pages.post(&format!("{page}/test"), &[("csrf", &csrf), ("to", "nobody"), ("record_id", "")]).await;
    assert_eq!(bad_test.status, 400, "{bad_test:?}");
    assert!(bad_test.body.contains("id=\"to-error\"") && bad_test.body.contains("value=\"nobody\""));
    let tested = pages
        .post(&format!("{page}/test"), &[("csrf", &csrf), ("to", "me@acme.example"), ("record_id", member.id.as_str())])
        .await;
    assert_eq!(campaign_of(&tested), (id.clone(), Some("test".to_owned())));
    let after_test = pages.get(tested.location().unwrap()).await;
    assert!(text_of(&after_test, "notice").contains("A test message is on its way"));
    let mut tests = Vec::new();
    for _ in 0..100 {
        tests = outbox(&stack, "tests").await;
        if !tests.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(tests.len(), 1, "{tests:#?}");
    assert_eq!(tests[0]["to"], "me@acme.example");
    assert_eq!(tests[0]["subject"], format!("[Test] Spring news for {first}"));

    // Send: the page follows it to the end.
    let sent_reply = pages.post(&format!("{page}/send"), &[("csrf", &csrf)]).await;
    assert_eq!(campaign_of(&sent_reply), (id.clone(), Some("sent".to_owned())));
    let sending = pages.get(sent_reply.location().unwrap()).await;
    assert!(sending.body.contains("data-status=\"sending\"") || sending.body.contains("data-status=\"sent\""));
    assert!(text_of(&sending, "notice").starts_with("Sending started"));
    wait_for(&api, &id, Duration::from_secs(60), super::support::sent).await;
    let done = pages.get(&page).await;
    assert!(done.body.contains("data-status=\"sent\""), "{}", done.body);
    assert_eq!(text_of(&done, "count-recipients"), members.to_string());
    assert_eq!(text_of(&done, "count-sent"), members.to_string());
    assert!(!done.body.contains("-button\""), "a sent campaign offers no buttons");
    let shown = members.min(100);
    assert_eq!(text_of(&done, "recipients-shown"), format!("{shown} of {members}"));
    let again = pages.post(&format!("{page}/send"), &[("csrf", &csrf)]).await;
    assert_eq!(again.status, 409, "{again:?}");
    assert!(text_of(&again, "form-error").contains("sent or cancelled"), "the refusal is on the campaign's page");

    // The recipients search and the results.
    let one = outbox(&stack, &id).await[0]["to"].as_str().unwrap().to_owned();
    let found = pages.get(&format!("{page}?q={one}")).await;
    assert_eq!(text_of(&found, "recipients-shown"), "1 of 1");
    let none = pages.get(&format!("{page}?q=zzzz-nobody&status=unsubscribed")).await;
    assert!(none.body.contains("No recipients match."), "{}", none.body);
    let csv = pages.get(&format!("{page}/results.csv")).await;
    assert_eq!(csv.status, 200);
    assert_eq!(csv.header("content-type"), Some("text/csv; charset=utf-8"));
    assert!(csv.header("content-disposition").unwrap().contains(&format!("campaign-{id}-results.csv")));
    assert_eq!(csv.body.lines().count() as u64, members + 1, "a header and a row per recipient");

    let listed = pages.get("/app/campaigns").await;
    assert!(listed.body.contains(&format!("href=\"{page}\">Spring news for {{{{FirstName|you}}}}</a>")));
    assert!(listed.body.contains(&format!("{members} of {members}")), "{}", listed.body);
}

#[tokio::test]
async fn campaign_forms_need_their_token_and_campaigns_stay_in_their_org() {
    let stack = stack(StackOptions::default()).await;
    let api = api(&stack);
    let (list, _) = everyone(&api).await;
    let id = create(&api, &body(&list)).await;
    let page = format!("/app/campaigns/{id}");
    let acme = stack.acme();
    let pages = Pages::sign_in(&stack, acme, stack.user(acme, UserKind::Known)).await;
    let csrf = pages.csrf().await;

    let without_token: [(&str, &[(&str, &str)]); 3] =
        [("send", &[]), ("cancel", &[]), ("test", &[("to", "me@acme.example")])];
    for (action, fields) in without_token {
        let refused = pages.post(&format!("{page}/{action}"), fields).await;
        assert_eq!(refused.status, 403, "{action}: {refused:?}");
        assert!(refused.header("content-type").unwrap().starts_with("text/html"), "{action}: people get a page");
        assert!(refused.body.contains("Error code: csrf"), "{action}");
    }
    let forged = pages.post("/app/campaigns", &form_of("AAAA", &body(&list))).await;
    assert_eq!(forged.status, 403);
    assert_eq!(campaign(&api, &id).await["status"], "draft", "nothing was done");

    // A body over the limit gets the error page, not a half-read form.
    let huge = format!("csrf={csrf}&html={}", "x".repeat(PAST_THE_LIMIT));
    let too_big = pages.post_body("/app/campaigns", huge).await;
    assert_eq!(too_big.status, 400, "{:?}", too_big.status);
    assert!(too_big.body.contains("Error code: invalid_form"), "{}", too_big.body);

    assert_eq!(pages.get("/app/campaigns/AAAAAAAAAAAAAAAA").await.status, 404);
    assert_eq!(pages.post(&format!("{page}/explode"), &[("csrf", &csrf)]).await.status, 404);

    let globex = stack.globex();
    let theirs = Pages::sign_in(&stack, globex, stack.user(globex, UserKind::Known)).await;
    let their_csrf = theirs.csrf().await;
    for path in [page.clone(), format!("{page}/results.csv")] {
        let hidden = theirs.get(&path).await;
        assert_eq!(hidden.status, 404, "{path}: {hidden:?}");
        assert!(hidden.body.contains("Error code: campaign_not_found"), "{path}");
    }
    let send = theirs.post(&format!("{page}/send"), &[("csrf", &their_csrf)]).await;
    assert_eq!(send.status, 404, "{send:?}");
    assert!(!theirs.get("/app/campaigns").await.body.contains(&id), "Globex does not list it");
    assert_eq!(campaign(&api, &id).await["status"], "draft");
}
