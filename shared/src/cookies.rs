//! Reading `Cookie` headers and writing `Set-Cookie` values. Outpost runs inside Salesforce web
//! tabs (cross-site iframes), so its cookies are `Secure; SameSite=None; Partitioned`.

use std::time::Duration;

/// The value of cookie `name` in one or more `Cookie` header values (or API Gateway's `cookies`
/// array). The first occurrence wins; an empty value counts as absent.
pub fn find<'a>(headers: impl IntoIterator<Item = &'a str>, name: &str) -> Option<&'a str> {
    headers
        .into_iter()
        .flat_map(|header| header.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.trim())
        .filter(|value| !value.is_empty())
}

/// How a cookie may travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Site {
    /// Sent in cross-site iframes too (web tabs): `SameSite=None; Partitioned`.
    CrossSite,
    /// Sent on top-level navigations only (the SSO round trip): `SameSite=Lax`.
    TopLevel,
}

/// A `Set-Cookie` value: always `HttpOnly; Secure`.
pub fn set(name: &str, value: &str, path: &str, site: Site, max_age: Duration) -> String {
    let same_site = match site {
        Site::CrossSite => "SameSite=None; Partitioned",
        Site::TopLevel => "SameSite=Lax",
    };
    format!("{name}={value}; HttpOnly; Secure; {same_site}; Path={path}; Max-Age={}", max_age.as_secs())
}

/// A `Set-Cookie` value that removes the cookie.
pub fn clear(name: &str, path: &str, site: Site) -> String {
    set(name, "", path, site, Duration::ZERO)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_cookie_among_others_and_headers() {
        let headers = ["a=1; outpost_session=tok", "outpost_session=later"];
        assert_eq!(find(headers, "outpost_session"), Some("tok"));
        assert_eq!(find(["x=1", "outpost_session=tok2"], "outpost_session"), Some("tok2"));
        assert_eq!(find(["outpost_session_x=1"], "outpost_session"), None);
        assert_eq!(find(["outpost_session="], "outpost_session"), None);
        assert_eq!(find([""], "outpost_session"), None);
    }

    #[test]
    fn writes_cross_site_and_top_level_cookies() {
        assert_eq!(
            set("outpost_session", "t", "/", Site::CrossSite, Duration::from_secs(60)),
            "outpost_session=t; HttpOnly; Secure; SameSite=None; Partitioned; Path=/; Max-Age=60"
        );
        assert_eq!(
            clear("outpost_sso", "/sso", Site::TopLevel),
            "outpost_sso=; HttpOnly; Secure; SameSite=Lax; Path=/sso; Max-Age=0"
        );
    }
}
