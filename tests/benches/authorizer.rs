//! Authorizer throughput on one core: cookie validations per second, with and without the one
//! store read each costs (measured alone on the same embedded store).
//!
//! `cargo bench -p outpost-tests --bench authorizer`

use std::time::Instant;

use outpost_tests::TestStack;
use outpost_tests::outpost_local::provision::UserKind;
use outpost_tests::outpost_shared::app_session::{self, SessionPolicy};
use outpost_tests::outpost_shared::store::now_epoch;
use outpost_tests::outpost_shared::telemetry::{self, LogFormat};

const ITERATIONS: u32 = 200_000;

fn main() {
    // Production logging (JSON at `info`, the template's default) rather than the test
    // harness's `trace` capture, which would time log formatting instead of the authorizer.
    let production = telemetry::subscriber(LogFormat::Json, telemetry::filter_with("info"), std::io::sink);
    let _already_set = tracing::subscriber::set_global_default(production);
    // One thread: the numbers are per core.
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let stack = TestStack::start().await;
        let org = stack.acme();
        let user = stack.user(org, UserKind::Known);
        let services = stack.stack.services.clone();
        let state = outpost_tests::outpost_authorizer::AuthorizerState {
            services: services.clone(),
            sessions: SessionPolicy::default(),
        };
        let issued =
            SessionPolicy::default().issue(org.registration.org_id, user.user_id, org.registration.mode, now_epoch());
        services.store.create_session(&issued.record).await.expect("session");
        let cookie = format!("theme=dark; __Host-outpost_session={}; other=1", issued.token);
        let credentials = outpost_tests::outpost_authorizer::Credentials {
            cookies: vec![cookie.as_str()],
            authorization: None,
            instance: None,
        };
        let hash = app_session::token_hash(&issued.token);

        for _ in 0..10_000 {
            outpost_tests::outpost_authorizer::authorize(&state, &credentials).await.expect("authorized");
            services.store.get_session(&hash).await.expect("read");
        }

        let started = Instant::now();
        for _ in 0..ITERATIONS {
            let who = outpost_tests::outpost_authorizer::authorize(&state, &credentials).await;
            std::hint::black_box(who.expect("authorized"));
        }
        let with_store = started.elapsed().as_secs_f64() / f64::from(ITERATIONS);

        let started = Instant::now();
        for _ in 0..ITERATIONS {
            std::hint::black_box(services.store.get_session(&hash).await.expect("read"));
        }
        let store_read = started.elapsed().as_secs_f64() / f64::from(ITERATIONS);

        let mut refused = 0u32;
        let forged = format!("__Host-outpost_session={}", "A".repeat(43));
        let forged_credentials = outpost_tests::outpost_authorizer::Credentials {
            cookies: vec![forged.as_str()],
            authorization: None,
            instance: None,
        };
        let started = Instant::now();
        for _ in 0..ITERATIONS {
            refused +=
                u32::from(outpost_tests::outpost_authorizer::authorize(&state, &forged_credentials).await.is_err());
        }
        let forged_time = started.elapsed().as_secs_f64() / f64::from(ITERATIONS);
        assert_eq!(refused, ITERATIONS);

        let beyond = with_store - store_read;
        println!("authorizer, cookie path, one core, {ITERATIONS} validations");
        println!("  validation incl. store read   {:>8.2} µs  ({:>9.0} /s)", with_store * 1e6, 1.0 / with_store);
        println!("  store read alone (embedded)   {:>8.2} µs", store_read * 1e6);
        println!("  validation excl. store read   {:>8.2} µs  ({:>9.0} /s)", beyond * 1e6, 1.0 / beyond);
        println!("  forged cookie (store miss)    {:>8.2} µs  ({:>9.0} /s)", forged_time * 1e6, 1.0 / forged_time);
        stack.stack.stop().await.expect("stop");
    });
}
