//! Canvas signed requests (docs/salesforce.md#canvas): `base64(HMAC-SHA256(consumer secret, base64(json))) + "." +
//! base64(json)`, standard alphabet, with a fresh API session as `client.oauthToken`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::json;

use crate::data::{Rng, User};
use crate::org::Org;
use crate::sessions::SessionKind;

/// The API version the sim's Canvas app and custom links are pinned to.
pub const API_VERSION: &str = "64.0";

/// The Canvas request JSON for `user` carrying `token`.
pub fn canvas_request(org: &Org, user: &User, token: &str) -> serde_json::Value {
    let b = &org.base_url;
    let v = API_VERSION;
    let o15 = org.id.as15();
    let outpost = org.outpost().map(|t| t.base_url).unwrap_or_default();
    // `issuedAt` is "for internal use only"; Salesforce sends an opaque integer.
    let issued_at = (Rng::new(org.clock.now_ms() as u64).next_u64() >> 33) as i64;
    json!({
        "algorithm": "HMACSHA256",
        "issuedAt": issued_at,
        "userId": user.id.as_str(),
        "client": {
            "oauthToken": token,
            "instanceUrl": b,
            "targetOrigin": b,
            "instanceId": "_:outpost:",
            "clientId": org.config.oauth_client.client_id,
            "refreshToken": null,
        },
        "context": {
            "user": {
                "userId": user.id.as_str(),
                "userName": user.username,
                "firstName": user.first_name,
                "lastName": user.last_name,
                "email": user.email,
                "fullName": user.name(),
                "locale": user.locale,
                "language": user.locale,
                "timeZone": user.zoneinfo,
                "profileId": format!("00e{}", &o15[3..]),
                "roleId": null,
                "userType": "STANDARD",
                "currencyISOCode": "USD",
                "accessibilityModeEnabled": false,
                "isDefaultNetwork": true,
                "networkId": null,
                "siteUrl": null,
                "siteUrlPrefix": null,
                "profilePhotoUrl": format!("{b}/profilephoto/005/F"),
                "profileThumbnailUrl": format!("{b}/profilephoto/005/T"),
            },
            "organization": {
                "organizationId": org.id.as_str(),
                "name": org.name,
                "multicurrencyEnabled": false,
                "currencyIsoCode": "USD",
                "namespacePrefix": null,
            },
            "environment": {
                "locationUrl": format!("{b}/lightning/n/Outpost"),
                "displayLocation": "Visualforce",
                "sublocation": null,
                "uiTheme": "Theme4d",
                "dimensions": {
                    "width": "100%", "height": "900px",
                    "maxWidth": "1000px", "maxHeight": "2000px",
                    "clientWidth": "1200px", "clientHeight": "900px",
                },
                "version": {"api": v, "season": "SUMMER"},
                "parameters": {},
                "record": {},
            },
            "links": {
                "enterpriseUrl": format!("/services/Soap/c/{v}/{o15}"),
                "metadataUrl": format!("/services/Soap/m/{v}/{o15}"),
                "partnerUrl": format!("/services/Soap/u/{v}/{o15}"),
                "restUrl": format!("/services/data/v{v}/"),
                "sobjectUrl": format!("/services/data/v{v}/sobjects/"),
                "searchUrl": format!("/services/data/v{v}/search/"),
                "queryUrl": format!("/services/data/v{v}/query/"),
                "recentItemsUrl": format!("/services/data/v{v}/recent/"),
                "userUrl": format!("/{}", user.id),
                "chatterFeedsUrl": format!("/services/data/v{v}/chatter/feeds"),
                "chatterGroupsUrl": format!("/services/data/v{v}/chatter/groups"),
                "chatterUsersUrl": format!("/services/data/v{v}/chatter/users"),
                "chatterFeedItemsUrl": format!("/services/data/v{v}/chatter/feed-items"),
            },
            "application": {
                "applicationId": format!("06P{}", &o15[3..]),
                "authType": "SIGNED_REQUEST",
                "canvasUrl": format!("{outpost}/canvas"),
                "developerName": "Outpost",
                "name": "Outpost",
                "namespace": null,
                "referenceId": format!("09H{}", &o15[3..]),
                "version": "1.0",
                "options": [],
                "samlInitiationMethod": "None",
                "isInstalledPersonalApp": false,
            },
        },
    })
}

/// Signs a Canvas request body with the consumer secret.
pub fn sign(secret: &str, json_text: &str) -> String {
    let payload = STANDARD.encode(json_text.as_bytes());
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret.as_bytes());
    let sig = aws_lc_rs::hmac::sign(&key, payload.as_bytes());
    format!("{}.{payload}", STANDARD.encode(sig.as_ref()))
}

/// A complete signed request for `user`, minting a fresh API session.
pub fn signed_request(org: &Org, user: &User) -> String {
    let token = org.mint(user.id, SessionKind::Api);
    let body = canvas_request(org, user, &token).to_string();
    sign(&org.config.oauth_client.client_secret, &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_hmac_over_the_encoded_payload() {
        let s = sign("foo", r#"{"key": "value"}"#);
        let (sig, payload) = s.split_once('.').unwrap();
        assert_eq!(STANDARD.decode(payload).unwrap(), br#"{"key": "value"}"#);
        let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, b"foo");
        aws_lc_rs::hmac::verify(&key, payload.as_bytes(), &STANDARD.decode(sig).unwrap()).unwrap();
    }
}
