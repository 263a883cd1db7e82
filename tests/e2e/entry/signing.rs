//! Values signed the way Outpost and Salesforce sign them, for cases no honest client can produce
//! on demand: an onboarding cookie that has already expired, a Canvas request signed by someone
//! who knows the secret but says something else.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use outpost_tests::TestStack;
use outpost_tests::outpost_shared::crypto::HmacKey;
use outpost_tests::outpost_shared::signed::Signer;
use secrecy::ExposeSecret;

/// The stack's cookie and CSRF signer, keyed from its app secret.
pub async fn outpost_signer(stack: &TestStack) -> Signer {
    let name = &stack.stack.services.config.app_secret_name;
    let secret = stack.stack.secrets.fetch(name).await.unwrap();
    let secret: serde_json::Value = serde_json::from_str(secret.expose_secret()).unwrap();
    Signer::new(secret["signing_key"].as_str().expect("a signing key").as_bytes())
}

/// A Canvas signed request: `base64(HMAC-SHA256(secret, base64(json))) "." base64(json)`.
pub fn canvas_sign(secret: &str, payload: &serde_json::Value) -> String {
    let encoded = STANDARD.encode(payload.to_string());
    let signature = STANDARD.encode(HmacKey::new(secret.as_bytes()).sign(encoded.as_bytes()));
    format!("{signature}.{encoded}")
}

/// The JSON inside a signed request.
pub fn canvas_payload(signed_request: &str) -> serde_json::Value {
    let (_, payload) = signed_request.split_once('.').expect("signature.payload");
    serde_json::from_slice(&STANDARD.decode(payload).expect("standard base64")).expect("JSON")
}
