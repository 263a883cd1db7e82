//! A campaign's subject and bodies as minijinja templates: merge fields from the recipient,
//! HTML auto-escaping in the HTML body, the unsubscribe link, and the org's postal address.

use std::collections::{BTreeMap, HashSet};

use minijinja::{AutoEscape, Environment};

use super::model::Delivery;

/// The merge fields a template may use, as Salesforce names them.
pub const MERGE_FIELDS: [&str; 4] = ["FirstName", "LastName", "Email", "Company"];
/// The variable every body must contain.
pub const UNSUBSCRIBE_URL: &str = "unsubscribe_url";
/// The filters `{{Field|name}}` applies; any other word after the bar is a fallback text.
const FILTERS: [&str; 9] = ["upper", "lower", "title", "capitalize", "trim", "default", "d", "escape", "e"];
/// Bounds what one rendering may compute: a template is written by a user, and a loop must not
/// stall a sender.
const FUEL: u64 = 100_000;

/// Why a campaign's templates were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct TemplateError {
    /// A stable code: `template_invalid`, `unknown_merge_field`, `missing_unsubscribe_link`.
    pub code: &'static str,
    /// Which part: `subject`, `html` or `text`.
    pub part: &'static str,
    pub message: String,
}

/// What one recipient's message says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub html: String,
    pub text: String,
}

/// A campaign's templates, checked and compiled once, rendered for each recipient.
pub struct CampaignTemplates {
    env: Environment<'static>,
    postal_address: String,
}

impl std::fmt::Debug for CampaignTemplates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CampaignTemplates").finish_non_exhaustive()
    }
}

/// Rewrites the fallback shorthand `{{FirstName|there}}` as minijinja's
/// `{{ FirstName|default("there", true) }}` (an empty field falls back too).
fn expand_fallbacks(source: &str) -> String {
    let mut out = String::with_capacity(source.len());
    let mut rest = source;
    while let Some(start) = rest.find("{{") {
        let Some(length) = rest[start + 2..].find("}}") else { break };
        let inner = &rest[start + 2..start + 2 + length];
        out.push_str(&rest[..start]);
        match fallback(inner) {
            Some((field, text)) => {
                let literal = text.replace('\\', "\\\\").replace('"', "\\\"");
                out.push_str(&format!("{{{{ {field}|default(\"{literal}\", true) }}}}"));
            }
            None => {
                out.push_str("{{");
                out.push_str(inner);
                out.push_str("}}");
            }
        }
        rest = &rest[start + 2 + length + 2..];
    }
    out.push_str(rest);
    out
}

/// The field and fallback text of `Field|text`, when the text is not a filter or an expression.
fn fallback(inner: &str) -> Option<(&str, &str)> {
    let (field, text) = inner.split_once('|')?;
    let (field, text) = (field.trim(), text.trim());
    let is_expression = text.contains(['(', '"', '\'', '|', '{', '}']);
    (MERGE_FIELDS.contains(&field) && !text.is_empty() && !is_expression && !FILTERS.contains(&text))
        .then_some((field, text))
}

impl CampaignTemplates {
    /// Checks and compiles a campaign's subject and bodies; `postal_address` ends every message.
    pub fn compile(subject: &str, html: &str, text: &str, postal_address: &str) -> Result<Self, TemplateError> {
        let mut env = Environment::new();
        env.set_auto_escape_callback(|name| if name == "html" { AutoEscape::Html } else { AutoEscape::None });
        // Values come from Salesforce records anyone in the org may edit: nothing may mark them safe.
        env.remove_filter("safe");
        env.set_fuel(Some(FUEL));
        for (part, source) in [("subject", subject), ("html", html), ("text", text)] {
            env.add_template_owned(part, expand_fallbacks(source)).map_err(|err| TemplateError {
                code: "template_invalid",
                part,
                message: format!("the {part} does not parse: {}", describe(&err)),
            })?;
        }
        for part in ["subject", "html", "text"] {
            let template = env.get_template(part).map_err(|err| TemplateError {
                code: "template_invalid",
                part,
                message: describe(&err),
            })?;
            let used: HashSet<String> = template.undeclared_variables(false);
            let unknown = used.iter().find(|name| {
                !MERGE_FIELDS.contains(&name.as_str())
                    && *name != UNSUBSCRIBE_URL
                    && !env.globals().any(|(global, _)| global == name.as_str())
            });
            if let Some(unknown) = unknown {
                return Err(TemplateError {
                    code: "unknown_merge_field",
                    part,
                    message: format!(
                        "the {part} uses {{{{{unknown}}}}}; the merge fields are {}, and {{{{{UNSUBSCRIBE_URL}}}}}",
                        MERGE_FIELDS.map(|field| format!("{{{{{field}}}}}")).join(", ")
                    ),
                });
            }
            if part != "subject" && !used.contains(UNSUBSCRIBE_URL) {
                return Err(TemplateError {
                    code: "missing_unsubscribe_link",
                    part,
                    message: format!("the {part} body must contain {{{{{UNSUBSCRIBE_URL}}}}}"),
                });
            }
        }
        Ok(Self { env, postal_address: postal_address.trim().to_owned() })
    }

    /// The message for one recipient.
    pub fn render(&self, recipient: &Delivery, unsubscribe_url: &str) -> Result<Rendered, TemplateError> {
        let mut values: BTreeMap<&str, &str> = BTreeMap::new();
        let fields = [
            ("FirstName", recipient.first_name.as_deref()),
            ("LastName", recipient.last_name.as_deref()),
            ("Email", Some(recipient.email.as_str())),
            ("Company", recipient.company.as_deref()),
        ];
        // An empty field stays undefined, so its fallback applies.
        values.extend(fields.into_iter().filter_map(|(name, value)| Some((name, value.filter(|v| !v.is_empty())?))));
        values.insert(UNSUBSCRIBE_URL, unsubscribe_url);
        let context = minijinja::Value::from_pairs(values.iter().map(|(name, value)| (*name, *value)));
        let part = |name: &'static str| {
            let template = self.env.get_template(name).map_err(|err| rendering_failed(name, &err))?;
            template.render(context.clone()).map_err(|err| rendering_failed(name, &err))
        };
        let subject = part("subject")?;
        Ok(Rendered {
            // A header is one line.
            subject: subject.split_whitespace().collect::<Vec<_>>().join(" "),
            html: self.html_footer(part("html")?),
            text: self.text_footer(part("text")?),
        })
    }

    fn html_footer(&self, mut html: String) -> String {
        if self.postal_address.is_empty() {
            return html;
        }
        let lines: Vec<String> = self.postal_address.lines().map(escape_html).collect();
        let footer = format!("<p style=\"margin-top:24px;color:#666;font-size:12px\">{}</p>", lines.join("<br>"));
        match html.rfind("</body>") {
            Some(end) => html.insert_str(end, &footer),
            None => html.push_str(&footer),
        }
        html
    }

    fn text_footer(&self, mut text: String) -> String {
        if !self.postal_address.is_empty() {
            text.push_str("\n\n-- \n");
            text.push_str(&self.postal_address);
            text.push('\n');
        }
        text
    }
}

/// A campaign's subject as one line for everyone: merge fields left empty, fallbacks applied (a
/// Salesforce Task names the campaign this way). The subject as written when it does not render.
pub fn generic_subject(subject: &str) -> String {
    let mut env = Environment::new();
    env.set_fuel(Some(FUEL));
    let rendered = env
        .template_from_str(&expand_fallbacks(subject))
        .and_then(|template| template.render(minijinja::Value::from_pairs(std::iter::empty::<(&str, &str)>())));
    let line = rendered.unwrap_or_else(|_| subject.to_owned());
    line.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn describe(err: &minijinja::Error) -> String {
    match (err.detail(), err.line()) {
        (Some(detail), Some(line)) => format!("{detail} (line {line})"),
        (Some(detail), None) => detail.to_owned(),
        (None, _) => err.kind().to_string(),
    }
}

fn rendering_failed(part: &'static str, err: &minijinja::Error) -> TemplateError {
    TemplateError {
        code: "template_failed",
        part,
        message: format!("the {part} could not be rendered: {}", describe(err)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::RecordId;
    use crate::store::Recipient;

    fn recipient(first: Option<&str>) -> Delivery {
        let mut record = Recipient::empty(RecordId::parse("003000000000001").unwrap(), 0);
        record.first_name = first.map(str::to_owned);
        record.last_name = Some("Lovelace".into());
        record.company = Some("<Analytical & Co>".into());
        Delivery::queued(&record, "Ada@Example.com", 0)
    }

    fn compile(html: &str, text: &str) -> Result<CampaignTemplates, TemplateError> {
        CampaignTemplates::compile("Hi {{FirstName|there}}", html, text, "1 Main St\nSpringfield")
    }

    #[test]
    fn merge_fields_fall_back_escape_and_carry_the_footer() {
        let templates = compile(
            "<p>Dear {{FirstName|there}} of {{Company}}</p><a href=\"{{unsubscribe_url}}\">x</a></body>",
            "Dear {{ FirstName | there }} of {{Company}} {{unsubscribe_url}}",
        )
        .unwrap();
        let with_name = templates.render(&recipient(Some("Ada")), "https://o.example/u/t").unwrap();
        assert_eq!(with_name.subject, "Hi Ada");
        assert!(with_name.html.contains("Dear Ada of &lt;Analytical &amp; Co&gt;"), "{}", with_name.html);
        assert!(with_name.html.ends_with("Springfield</p></body>"), "{}", with_name.html);
        assert!(with_name.text.starts_with("Dear Ada of <Analytical & Co> https://o.example/u/t"));
        assert!(with_name.text.ends_with("-- \n1 Main St\nSpringfield\n"));
        for first in [None, Some("")] {
            let without = templates.render(&recipient(first), "u").unwrap();
            assert_eq!(without.subject, "Hi there");
            assert!(without.text.starts_with("Dear there of"));
        }
    }

    #[test]
    fn filters_stay_filters_and_values_cannot_be_marked_safe() {
        let templates = compile("{{ FirstName|upper }} {{unsubscribe_url}}", "{{unsubscribe_url}}").unwrap();
        assert!(templates.render(&recipient(Some("ada")), "u").unwrap().html.starts_with("ADA u"));
        let templates = compile("{{ Company|safe }} {{unsubscribe_url}}", "{{unsubscribe_url}}").unwrap();
        let html = templates.render(&recipient(None), "u").unwrap().html;
        assert!(html.starts_with("&lt;Analytical &amp; Co&gt; u"), "{html}");
    }

    #[test]
    fn bad_templates_are_refused_with_stable_codes() {
        let cases = [
            ("{{unsubscribe_url}} {% if %}", "{{unsubscribe_url}}", "template_invalid", "html"),
            ("{{unsubscribe_url}}", "{{ Title }} {{unsubscribe_url}}", "unknown_merge_field", "text"),
            ("<p>no link</p>", "{{unsubscribe_url}}", "missing_unsubscribe_link", "html"),
            ("{{unsubscribe_url}}", "no link", "missing_unsubscribe_link", "text"),
        ];
        for (html, text, code, part) in cases {
            let err = compile(html, text).unwrap_err();
            assert_eq!((err.code, err.part), (code, part), "{html} / {text}: {}", err.message);
        }
    }

    #[test]
    fn a_generic_subject_takes_the_fallbacks() {
        assert_eq!(generic_subject("News for {{FirstName|you}}, {{ LastName }}!"), "News for you, !");
        assert_eq!(generic_subject("{% if %}"), "{% if %}", "as written when it does not render");
    }

    #[test]
    fn a_runaway_loop_runs_out_of_fuel() {
        let html =
            "{% for a in range(100000) %}{% for b in range(100000) %}x{% endfor %}{% endfor %}{{unsubscribe_url}}";
        let templates = compile(html, "{{unsubscribe_url}}").unwrap();
        assert_eq!(templates.render(&recipient(None), "u").unwrap_err().code, "template_failed");
    }
}
