//! Reading `application/x-www-form-urlencoded` bodies strictly: bounded, every field at most
//! once, unknown fields refused.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use outpost_shared::web;

use crate::error::EntryError;

/// Largest form body accepted (a Canvas signed request is the biggest, a few KiB).
pub const MAX_FORM_BYTES: usize = 64 * 1024;

/// The fields of a form body, each present at most once and among `allowed`.
pub fn parse(body: &[u8], allowed: &[&str]) -> Result<HashMap<String, String>, EntryError> {
    if body.len() > MAX_FORM_BYTES {
        return Err(EntryError::InvalidForm);
    }
    let fields = web::form_fields(body, allowed, &[]).ok_or(EntryError::InvalidForm)?;
    Ok(fields.into_iter().filter_map(|(name, mut values)| Some((name, values.pop()?))).collect())
}

/// [`parse`] of a request body as extracted: one axum would not buffer (over the body limit) is
/// as malformed as any other, not a plain-text 413.
pub fn parse_body(
    body: Result<Bytes, BytesRejection>,
    allowed: &[&str],
) -> Result<HashMap<String, String>, EntryError> {
    parse(&body.map_err(|_| EntryError::InvalidForm)?, allowed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_known_fields_once() {
        let fields = parse(b"a=1&b=x+y%21", &["a", "b"]).unwrap();
        assert_eq!(fields["a"], "1");
        assert_eq!(fields["b"], "x y!");
        assert_eq!(parse(b"a=1&a=2", &["a"]), Err(EntryError::InvalidForm));
        assert_eq!(parse(b"c=1", &["a"]), Err(EntryError::InvalidForm));
        assert!(parse(b"", &["a"]).unwrap().is_empty());
    }
}
