//! The local stack itself: the Salesforce-like home page and `/_local/info`.

use outpost_tests::TestStack;
use outpost_tests::outpost_local::provision::UserKind;

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
