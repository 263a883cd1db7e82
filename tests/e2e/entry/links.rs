//! Custom links as Salesforce renders them, taken apart and put back together with one part
//! changed, so each bad-input case differs from a working link in exactly one way.

use outpost_tests::TestStack;

/// The query parameters of an `/entry` link, in order.
#[derive(Debug, Clone)]
pub struct Link {
    base: String,
    pairs: Vec<(String, String)>,
}

impl Link {
    /// Takes apart a link the simulated org produced.
    pub fn parse(url: &str) -> Self {
        let parsed = url::Url::parse(url).expect("a custom link is a URL");
        assert_eq!(parsed.path(), "/entry");
        let base = url.split_once('?').map_or(url, |(base, _)| base).to_owned();
        Self { base, pairs: parsed.query_pairs().into_owned().collect() }
    }

    /// A link with these parameters on `stack`.
    pub fn on(stack: &TestStack, pairs: &[(&str, &str)]) -> Self {
        let pairs = pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        Self { base: stack.url("/entry"), pairs }
    }

    /// The value of parameter `name`.
    pub fn get(&self, name: &str) -> &str {
        self.pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).unwrap_or_else(|| panic!("no {name}"))
    }

    /// The session id the link carries.
    pub fn sid(&self) -> String {
        self.get("sid").to_owned()
    }

    /// The same link with parameter `name` set to `value`.
    pub fn with(&self, name: &str, value: &str) -> Self {
        let mut link = self.clone();
        match link.pairs.iter_mut().find(|(k, _)| k == name) {
            Some(pair) => pair.1 = value.to_owned(),
            None => link.pairs.push((name.to_owned(), value.to_owned())),
        }
        link
    }

    /// The same link without parameter `name`.
    pub fn without(&self, name: &str) -> Self {
        let mut link = self.clone();
        link.pairs.retain(|(k, _)| k != name);
        link
    }

    /// The same link with one more `name=value` at the end (duplicates included).
    pub fn plus(&self, name: &str, value: &str) -> Self {
        let mut link = self.clone();
        link.pairs.push((name.to_owned(), value.to_owned()));
        link
    }

    /// The query string, form-encoded the way a URL custom link encodes merge fields.
    pub fn query(&self) -> String {
        url::form_urlencoded::Serializer::new(String::new()).extend_pairs(&self.pairs).finish()
    }

    /// The absolute URL.
    pub fn url(&self) -> String {
        format!("{}?{}", self.base, self.query())
    }

    /// The absolute URL with a hand-written query string (odd encodings).
    pub fn raw(&self, query: &str) -> String {
        format!("{}?{query}", self.base)
    }
}
