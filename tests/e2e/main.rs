//! End-to-end tests over real HTTP: the local stack (every function behind the authorizer) and
//! simulated Salesforce orgs, in one binary.

#![allow(clippy::unwrap_used)] // Tests unwrap: a panic is the failure report.

/// Declares each listed test (an `async fn(StoreKind)`) once per store: the embedded one, and
/// DynamoDB with Secrets Manager on moto.
macro_rules! on_both_stores {
    ($($test:ident),* $(,)?) => {
        mod embedded_store {
            $(
                #[tokio::test]
                async fn $test() {
                    super::$test(outpost_tests::StoreKind::Embedded).await;
                }
            )*
        }
        mod dynamodb_on_moto {
            $(
                #[tokio::test]
                async fn $test() {
                    super::$test(outpost_tests::StoreKind::Moto).await;
                }
            )*
        }
    };
}

mod apex;
mod authorizer;
mod browser;
mod campaigns;
mod dynamodb_standin;
mod entry;
mod lists;
mod local;
mod sync;
