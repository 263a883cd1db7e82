//! The local stack itself: the Salesforce-like home page and `/_local/info`.

use outpost_tests::TestStack;
use outpost_tests::outpost_local::provision::UserKind;
use outpost_tests::outpost_shared::ids::RecipientObject;

#[tokio::test]
async fn info_lists_the_demo_org_and_its_users_with_real_custom_links() {
    let stack = TestStack::start().await;
    let info: serde_json::Value = stack.get(&stack.url("/_local/info")).await.json().await.unwrap();
    assert_eq!(info["org_id"], stack.acme().registration.org_id.to_string());
    assert_eq!(info["salesforce_url"], stack.sim(stack.acme()).base_url());
    assert_eq!(info["mode"], "per_user");
    let users = info["users"].as_array().unwrap();
    let kinds: Vec<&str> = users.iter().map(|u| u["kind"].as_str().unwrap()).collect();
    for kind in ["known", "new", "inactive"] {
        assert!(kinds.contains(&kind), "{kinds:?}");
    }
    for user in users {
        let link = url::Url::parse(user["entry_url"].as_str().unwrap()).unwrap();
        assert_eq!(link.path(), "/entry");
        let params: Vec<String> = link.query_pairs().map(|(k, _)| k.into_owned()).collect();
        assert_eq!(params, ["uid", "oid", "sid", "srv"]);
    }
    assert!(!info["callout_key"].as_str().unwrap().is_empty());
    assert_eq!(info["other_orgs"][0]["mode"], "org_wide");
}

#[tokio::test]
async fn the_home_page_imitates_salesforce_with_a_link_per_user() {
    let stack = TestStack::start().await;
    let response = stack.get(&stack.url("/")).await;
    assert_eq!(response.status(), 200);
    let page = response.text().await.unwrap();
    for user in &stack.acme().users {
        assert!(page.contains(&user.name), "{} missing", user.name);
    }
    assert!(page.contains("/entry?uid="));
    let known = stack.user(stack.acme(), UserKind::Known);
    assert!(page.contains(known.user_id.as_str()));
}

/// POSTs JSON to a `/_local/…` command endpoint.
async fn command(stack: &TestStack, path: &str, body: &str) -> (u16, serde_json::Value) {
    let response = stack
        .http
        .post(stack.url(path))
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

#[tokio::test]
async fn local_commands_run_in_the_stack_and_refuse_bad_input_with_json_codes() {
    let stack = TestStack::start().await;
    let acme = stack.acme().registration.org_id.to_string();

    let (status, run) = command(&stack, "/_local/sync", &format!(r#"{{"org": "{acme}"}}"#)).await;
    assert_eq!(status, 200, "{run}");
    assert_eq!((run["org_id"].as_str(), run["status"].as_str()), (Some(acme.as_str()), Some("complete")));
    let org = stack.acme().registration.org_id;
    let (synced, _) =
        stack.stack.services.store.list_recipients(&org, RecipientObject::Contact, None, 1).await.unwrap();
    let contact = synced[0].id.to_string();
    let (status, queued) = command(&stack, "/_local/optout", &format!(r#"{{"record": "{contact}"}}"#)).await;
    assert_eq!(status, 200, "{queued}");
    assert_eq!(queued, serde_json::json!({"org_id": acme, "record": contact, "queued": true}));

    for (path, body, code, says) in [
        ("/_local/optout", "{}", "command_failed", "record is required"),
        ("/_local/optout", r#"{"record": "003-not-an-id"}"#, "bad_request", "record"),
        ("/_local/optout", "{", "bad_request", "EOF"),
        ("/_local/sync", r#"{"org": "00D000000000001AAA"}"#, "bad_request", "org"),
        ("/_local/sync", r#"{"org": "00D5g0000000001"}"#, "command_failed", "registered and active"),
    ] {
        let (status, answer) = command(&stack, path, body).await;
        assert!((400..500).contains(&status), "{path} {body}: {status}");
        assert_eq!(answer["error"]["code"], code, "{path} {body}: {answer}");
        assert!(answer["error"]["message"].as_str().unwrap().contains(says), "{path} {body}: {answer}");
    }
}

#[tokio::test]
async fn pages_holding_keys_and_sessions_answer_only_requests_addressed_to_localhost() {
    let stack = TestStack::start().await;
    let sim = stack.sim(stack.acme());
    // A page whose DNS name was rebound to 127.0.0.1 sends its own name as Host.
    let rebound = |url: String| stack.http.get(url).header("host", "attacker.example");
    for path in ["/", "/_local/info"] {
        let refused = rebound(stack.url(path)).send().await.unwrap();
        assert_eq!(refused.status(), 421, "{path}");
        let body = refused.text().await.unwrap();
        assert!(!body.contains("/entry?uid=") && !body.contains("callout_key"), "{path}: {body}");
    }
    let minted = stack.http.post(format!("{}/_sim/sessions", sim.base_url())).header("host", "attacker.example");
    assert_eq!(minted.send().await.unwrap().status(), 421, "the simulated org mints no session for it");
    assert_eq!(rebound(format!("{}/_sim/info", sim.base_url())).send().await.unwrap().status(), 421);
    // Addressed to the machine by name or address, they answer.
    assert_eq!(stack.get(&stack.url("/_local/info")).await.status(), 200);
    let by_address = stack.url("/_local/info").replace("localhost", "127.0.0.1");
    assert_eq!(stack.http.get(by_address).send().await.unwrap().status(), 200);
}
