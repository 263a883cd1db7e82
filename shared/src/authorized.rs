//! The authorizer's output contract, shared by the authorizer and every function behind it:
//! `{org_id, user_id, mode}` in the request context. On Lambda, API Gateway puts the context
//! there; the local stack's middleware puts the same structure there. With the `http-context`
//! feature, handlers read it through the [`Authorized`] extractor.

use std::collections::HashMap;

use serde_json::Value;

use crate::ids::{OrgId, UserId};
use crate::store::ProvisioningMode;

/// Who the authorizer let in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Authorized {
    pub org_id: OrgId,
    pub user_id: UserId,
    pub mode: ProvisioningMode,
}

impl Authorized {
    /// The simple-response `context` object.
    pub fn to_context(&self) -> HashMap<String, Value> {
        HashMap::from([
            ("org_id".to_owned(), Value::String(self.org_id.to_string())),
            ("user_id".to_owned(), Value::String(self.user_id.to_string())),
            ("mode".to_owned(), Value::String(self.mode.as_str().to_owned())),
        ])
    }

    /// Reads a context back; `None` unless all three fields are present and valid.
    pub fn from_context(context: &HashMap<String, Value>) -> Option<Self> {
        let field = |name: &str| context.get(name).and_then(Value::as_str);
        Some(Self {
            org_id: OrgId::parse(field("org_id")?).ok()?,
            user_id: UserId::parse(field("user_id")?).ok()?,
            mode: ProvisioningMode::parse(field("mode")?)?,
        })
    }
}

#[cfg(feature = "http-context")]
mod extractor {
    use axum::extract::FromRequestParts;
    use axum::http::StatusCode;
    use axum::http::request::Parts;
    use lambda_http::aws_lambda_events::apigw::{ApiGatewayRequestAuthorizer, ApiGatewayV2httpRequestContext};
    use lambda_http::request::RequestContext;

    use super::Authorized;

    impl Authorized {
        /// The request context API Gateway hands a function behind the authorizer.
        pub fn request_context(&self) -> RequestContext {
            let mut authorizer = ApiGatewayRequestAuthorizer::default();
            authorizer.fields = self.to_context();
            let mut context = ApiGatewayV2httpRequestContext::default();
            context.authorizer = Some(authorizer);
            RequestContext::ApiGatewayV2(context)
        }
    }

    impl<S: Send + Sync> FromRequestParts<S> for Authorized {
        type Rejection = StatusCode;

        /// A route without authorizer context is a deployment mistake: refuse rather than guess.
        async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
            match parts.extensions.get::<RequestContext>() {
                Some(RequestContext::ApiGatewayV2(context)) => context
                    .authorizer
                    .as_ref()
                    .and_then(|authorizer| Self::from_context(&authorizer.fields))
                    .ok_or(StatusCode::UNAUTHORIZED),
                _ => Err(StatusCode::UNAUTHORIZED),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_round_trips() {
        let who = Authorized {
            org_id: OrgId::parse("00Dx0000000BV7z").unwrap(),
            user_id: UserId::parse("005x00000012Q9P").unwrap(),
            mode: ProvisioningMode::OrgWide,
        };
        assert_eq!(Authorized::from_context(&who.to_context()), Some(who));
        let mut forged = who.to_context();
        forged.insert("mode".into(), Value::String("admin".into()));
        assert_eq!(Authorized::from_context(&forged), None);
    }
}
