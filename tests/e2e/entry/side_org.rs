//! More orgs registered with a running stack, for what the two demo orgs cannot show: users whose
//! names carry markup, a Salesforce host that refuses connections.

use outpost_tests::TestStack;
use outpost_tests::outpost_shared::ids::OrgId;
use outpost_tests::outpost_shared::store::{OrgRegistration, OrgSecretNames, OrgStatus, ProvisioningMode, now_epoch};
use outpost_tests::salesforce_sim::{Sim, SimConfig, SimHandle, UserSpec};

/// Registers `org_id` with `pinned_host` as its Salesforce; returns the host.
pub async fn register_host(stack: &TestStack, org_id: &str, pinned_host: &str, mode: ProvisioningMode) -> String {
    let org = OrgId::parse(org_id).expect("an org id");
    let registration = OrgRegistration {
        org_id: org,
        name: "Side Org".to_owned(),
        pinned_host: pinned_host.to_owned(),
        mode,
        status: OrgStatus::Active,
        secrets: OrgSecretNames::conventional(&stack.stack.services.config.secret_prefix, &org),
        registered_at: now_epoch(),
        settings: Default::default(),
        namespace: None,
    };
    stack.stack.services.store.put_org(&registration).await.expect("the org is registered");
    pinned_host.to_owned()
}

/// Starts a simulated org with `users`, points it at the stack and registers it as `mode`.
pub async fn register(stack: &TestStack, org_id: &str, users: Vec<UserSpec>, mode: ProvisioningMode) -> SimHandle {
    let base_url = &stack.stack.base_url;
    let config =
        SimConfig { org_id: org_id.to_owned(), org_name: "Side Org".to_owned(), users, ..SimConfig::default() }
            .with_records(5, 5)
            .with_outpost(base_url, "unused-callout-key")
            .with_redirect_uri(&format!("{base_url}/sso/callback"));
    let sim = Sim::spawn(config).await.expect("the side org starts");
    register_host(stack, org_id, sim.base_url(), mode).await;
    sim
}
