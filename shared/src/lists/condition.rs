//! List conditions: what the API and the list builder take (a field, an operator, a value), and
//! the checked form they are evaluated in. Comparisons follow SOQL: text compares
//! case-insensitively, an empty field equals nothing and differs from everything, and a field an
//! object lacks is empty on its records.

use serde::{Deserialize, Serialize};

use super::fields::{Catalog, FieldKind, FieldRef, Value};
use crate::salesforce::SfDateTime;
use crate::store::Recipient;

/// The most conditions one list may have.
pub const MAX_CONDITIONS: usize = 50;
/// The most values an `in` condition may list.
pub const MAX_IN_VALUES: usize = 100;
/// The longest text value a condition may compare with.
pub const MAX_TEXT: usize = 255;

/// An operator of a condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    Eq,
    Ne,
    In,
    StartsWith,
    EndsWith,
    Contains,
    IsEmpty,
    NotEmpty,
    Before,
    After,
    Between,
    IsTrue,
    IsFalse,
}

impl Op {
    pub const ALL: [Op; 13] = [
        Op::Eq,
        Op::Ne,
        Op::In,
        Op::StartsWith,
        Op::EndsWith,
        Op::Contains,
        Op::IsEmpty,
        Op::NotEmpty,
        Op::Before,
        Op::After,
        Op::Between,
        Op::IsTrue,
        Op::IsFalse,
    ];

    /// The operator as the API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Eq => "eq",
            Op::Ne => "ne",
            Op::In => "in",
            Op::StartsWith => "starts_with",
            Op::EndsWith => "ends_with",
            Op::Contains => "contains",
            Op::IsEmpty => "is_empty",
            Op::NotEmpty => "not_empty",
            Op::Before => "before",
            Op::After => "after",
            Op::Between => "between",
            Op::IsTrue => "is_true",
            Op::IsFalse => "is_false",
        }
    }

    /// Parses the API spelling.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|op| op.as_str() == text)
    }

    /// What a person reads.
    pub fn label(self) -> &'static str {
        match self {
            Op::Eq => "is",
            Op::Ne => "is not",
            Op::In => "is one of",
            Op::StartsWith => "starts with",
            Op::EndsWith => "ends with",
            Op::Contains => "contains",
            Op::IsEmpty => "is empty",
            Op::NotEmpty => "is not empty",
            Op::Before => "is before",
            Op::After => "is after",
            Op::Between => "is between",
            Op::IsTrue => "is true",
            Op::IsFalse => "is false",
        }
    }

    /// Whether the operator applies to fields of `kind`.
    pub fn applies_to(self, kind: FieldKind) -> bool {
        match kind {
            FieldKind::Text => {
                matches!(
                    self,
                    Op::Eq
                        | Op::Ne
                        | Op::In
                        | Op::StartsWith
                        | Op::EndsWith
                        | Op::Contains
                        | Op::IsEmpty
                        | Op::NotEmpty
                )
            }
            FieldKind::Boolean => matches!(self, Op::IsTrue | Op::IsFalse),
            FieldKind::Date | FieldKind::DateTime => {
                matches!(self, Op::Before | Op::After | Op::Between | Op::IsEmpty | Op::NotEmpty)
            }
            FieldKind::Number => matches!(self, Op::Eq | Op::Ne | Op::In | Op::Between | Op::IsEmpty | Op::NotEmpty),
        }
    }

    /// Whether the operator takes no value.
    pub fn is_unary(self) -> bool {
        matches!(self, Op::IsEmpty | Op::NotEmpty | Op::IsTrue | Op::IsFalse)
    }
}

/// A condition as the API takes it and lists keep it. `value` is a string (or number) for most
/// operators, a list for `in` and a two-element list for `between`, absent for the unary ones.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConditionSpec {
    pub field: String,
    pub op: Op,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<serde_json::Value>,
}

/// Why a list definition was refused: a stable code, a message, and where in the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ListError {
    pub code: &'static str,
    pub message: String,
    pub path: Option<String>,
}

impl ListError {
    pub fn new(code: &'static str, message: impl Into<String>, path: impl Into<Option<String>>) -> Self {
        Self { code, message: message.into(), path: path.into() }
    }
}

/// A moment's bounds: a date covers its whole day, a datetime its millisecond.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Span {
    start: i64,
    /// Exclusive.
    end: i64,
}

#[derive(Debug, Clone, PartialEq)]
enum Operand {
    None,
    /// Lowercased.
    Text(String),
    Texts(Vec<String>),
    Number(f64),
    Numbers(Vec<f64>),
    NumberRange(f64, f64),
    Moment(Span),
    Moments(Span, Span),
}

/// A checked condition, ready to evaluate.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    pub field: FieldRef,
    pub op: Op,
    operand: Operand,
}

impl Condition {
    /// Checks `spec` (the `index`th condition) against the org's fields.
    pub fn check(spec: &ConditionSpec, catalog: &Catalog, index: usize) -> Result<Self, ListError> {
        let path = |part: &str| format!("conditions[{index}].{part}");
        let field = catalog.field(&spec.field).ok_or_else(|| {
            ListError::new("unknown_field", format!("no field {:?} to filter on", spec.field), path("field"))
        })?;
        let kind = field.kind();
        if !spec.op.applies_to(kind) {
            let message = format!("{} does not apply to {} ({kind:?})", spec.op.as_str(), field.name());
            return Err(ListError::new("invalid_operator", message, path("op")));
        }
        let operand = operand(spec, kind).map_err(|message| ListError::new("invalid_value", message, path("value")))?;
        Ok(Self { field, op: spec.op, operand })
    }

    /// Whether `recipient` meets the condition.
    pub fn matches(&self, recipient: &Recipient) -> bool {
        let value = self.field.value(recipient);
        match (&self.operand, value) {
            (_, Value::Boolean(flag)) => flag == (self.op == Op::IsTrue),
            (Operand::None, value) => (value == Value::Null) == (self.op == Op::IsEmpty),
            // An empty field equals nothing and differs from everything, as in SOQL.
            (_, Value::Null) => self.op == Op::Ne,
            (Operand::Text(wanted), Value::Text(text)) => match self.op {
                Op::Eq => text_eq(text, wanted),
                Op::Ne => !text_eq(text, wanted),
                Op::StartsWith => lowered(text).starts_with(wanted.as_str()),
                Op::EndsWith => lowered(text).ends_with(wanted.as_str()),
                _ => lowered(text).contains(wanted.as_str()),
            },
            (Operand::Texts(wanted), Value::Text(text)) => wanted.iter().any(|wanted| text_eq(text, wanted)),
            (Operand::Number(wanted), Value::Number(number)) => (number == *wanted) == (self.op == Op::Eq),
            (Operand::Numbers(wanted), Value::Number(number)) => wanted.contains(&number),
            (Operand::NumberRange(from, to), Value::Number(number)) => (*from..=*to).contains(&number),
            (Operand::Moment(span), Value::Instant(at)) => match self.op {
                Op::Before => at < span.start,
                _ => at >= span.end,
            },
            (Operand::Moments(from, to), Value::Instant(at)) => at >= from.start && at < to.end,
            _ => self.op == Op::Ne,
        }
    }
}

/// `text` lowercased, borrowed when it already is.
fn lowered(text: &str) -> std::borrow::Cow<'_, str> {
    if text.bytes().any(|byte| byte.is_ascii_uppercase()) || !text.is_ascii() {
        std::borrow::Cow::Owned(text.to_lowercase())
    } else {
        std::borrow::Cow::Borrowed(text)
    }
}

/// Case-insensitive equality with an already lowercased `wanted`.
fn text_eq(text: &str, wanted: &str) -> bool {
    if text.is_ascii() { text.eq_ignore_ascii_case(wanted) } else { text.to_lowercase() == wanted }
}

fn text_of(value: &serde_json::Value) -> Result<String, String> {
    match value {
        serde_json::Value::String(text) if text.trim().is_empty() => Err("an empty value: use is_empty".into()),
        serde_json::Value::String(text) if text.chars().count() > MAX_TEXT => {
            Err(format!("a value longer than {MAX_TEXT} characters"))
        }
        serde_json::Value::String(text) => Ok(text.trim().to_lowercase()),
        serde_json::Value::Number(number) => Ok(number.to_string()),
        other => Err(format!("expected a string, got {other}")),
    }
}

fn number_of(value: &serde_json::Value) -> Result<f64, String> {
    let number = match value {
        serde_json::Value::Number(number) => number.as_f64(),
        serde_json::Value::String(text) => text.trim().parse::<f64>().ok(),
        _ => None,
    };
    number.filter(|number| number.is_finite()).ok_or_else(|| format!("expected a number, got {value}"))
}

fn moment_of(value: &serde_json::Value, kind: FieldKind) -> Result<Span, String> {
    let text = value.as_str().ok_or_else(|| format!("expected a date, got {value}"))?.trim();
    let expected = || match kind {
        FieldKind::Date => format!("expected a date YYYY-MM-DD, got {text:?}"),
        _ => format!("expected a date YYYY-MM-DD or a datetime such as 2026-01-31T09:00:00Z, got {text:?}"),
    };
    if let Ok(day) = SfDateTime::parse_date(text) {
        return Ok(Span { start: day.millis(), end: day.plus_seconds(86_400).millis() });
    }
    if kind == FieldKind::Date {
        return Err(expected());
    }
    let at = SfDateTime::parse(text).map_err(|_| expected())?;
    Ok(Span { start: at.millis(), end: at.millis() + 1 })
}

/// The two ends of a `between`.
fn pair(value: &serde_json::Value) -> Result<(&serde_json::Value, &serde_json::Value), String> {
    match value.as_array().map(Vec::as_slice) {
        Some([from, to]) => Ok((from, to)),
        _ => Err("between takes a list of two values: [from, to]".into()),
    }
}

fn operand(spec: &ConditionSpec, kind: FieldKind) -> Result<Operand, String> {
    let value = match (&spec.value, spec.op.is_unary()) {
        (None | Some(serde_json::Value::Null), true) => return Ok(Operand::None),
        (Some(_), true) => return Err(format!("{} takes no value", spec.op.as_str())),
        (None | Some(serde_json::Value::Null), false) => return Err(format!("{} needs a value", spec.op.as_str())),
        (Some(value), false) => value,
    };
    Ok(match (spec.op, kind) {
        (Op::In, _) => {
            let values = value.as_array().ok_or("in takes a list of values")?;
            if values.is_empty() || values.len() > MAX_IN_VALUES {
                return Err(format!("in takes 1 to {MAX_IN_VALUES} values"));
            }
            match kind {
                FieldKind::Number => Operand::Numbers(values.iter().map(number_of).collect::<Result<_, _>>()?),
                _ => Operand::Texts(values.iter().map(text_of).collect::<Result<_, _>>()?),
            }
        }
        (Op::Between, FieldKind::Number) => {
            let (from, to) = pair(value)?;
            let (from, to) = (number_of(from)?, number_of(to)?);
            if from > to {
                return Err("between's first value is larger than its second".into());
            }
            Operand::NumberRange(from, to)
        }
        (Op::Between, _) => {
            let (from, to) = pair(value)?;
            let (from, to) = (moment_of(from, kind)?, moment_of(to, kind)?);
            if from.start >= to.end {
                return Err("between's first date is after its second".into());
            }
            Operand::Moments(from, to)
        }
        (Op::Before | Op::After, _) => Operand::Moment(moment_of(value, kind)?),
        (_, FieldKind::Number) => Operand::Number(number_of(value)?),
        _ => Operand::Text(text_of(value)?),
    })
}

/// Checks `specs` against the org's fields.
pub fn checked(specs: &[ConditionSpec], catalog: &Catalog) -> Result<Vec<Condition>, ListError> {
    if specs.len() > MAX_CONDITIONS {
        let message = format!("at most {MAX_CONDITIONS} conditions");
        return Err(ListError::new("too_many_conditions", message, Some("conditions".to_owned())));
    }
    specs.iter().enumerate().map(|(index, spec)| Condition::check(spec, catalog, index)).collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::ids::RecordId;

    fn check(field: &str, op: Op, value: Option<serde_json::Value>) -> Result<Condition, ListError> {
        Condition::check(&ConditionSpec { field: field.into(), op, value }, &Catalog::default(), 0)
    }

    fn contact(edit: impl FnOnce(&mut Recipient)) -> Recipient {
        let mut recipient = Recipient::empty(RecordId::parse("003q000000KvQ1tAAF").unwrap(), 1);
        edit(&mut recipient);
        recipient
    }

    #[test]
    fn text_compares_case_insensitively_and_empty_fields_as_soql_does() {
        let titled = contact(|r| r.title = Some("VP of Sales".into()));
        let untitled = contact(|_| {});
        let cases = [
            (Op::Eq, json!("vp of sales"), true, false),
            (Op::Ne, json!("VP OF SALES"), false, true),
            (Op::StartsWith, json!("vp"), true, false),
            (Op::EndsWith, json!("SALES"), true, false),
            (Op::Contains, json!("of s"), true, false),
            (Op::In, json!(["CEO", "vp of sales"]), true, false),
        ];
        for (op, value, on_titled, on_untitled) in cases {
            let condition = check("Title", op, Some(value)).unwrap();
            assert_eq!((condition.matches(&titled), condition.matches(&untitled)), (on_titled, on_untitled), "{op:?}");
        }
        let empty = check("title", Op::IsEmpty, None).unwrap();
        assert!(!empty.matches(&titled) && empty.matches(&untitled));
        let unicode = contact(|r| r.city = Some("MÜNCHEN".into()));
        assert!(check("City", Op::Eq, Some(json!("münchen"))).unwrap().matches(&unicode));
    }

    #[test]
    fn a_date_covers_its_day_and_a_datetime_its_moment() {
        let at = |text: &str| contact(|r| r.created_at = Some(SfDateTime::parse(text).unwrap()));
        let (morning, evening, next) =
            (at("2026-03-01T00:00:00Z"), at("2026-03-01T23:59:59.999Z"), at("2026-03-02T00:00:00Z"));
        let before = check("CreatedDate", Op::Before, Some(json!("2026-03-02"))).unwrap();
        assert!(before.matches(&morning) && before.matches(&evening) && !before.matches(&next));
        let after = check("CreatedDate", Op::After, Some(json!("2026-03-01"))).unwrap();
        assert!(!after.matches(&evening) && after.matches(&next));
        let between = check("CreatedDate", Op::Between, Some(json!(["2026-03-01", "2026-03-01"]))).unwrap();
        assert!(between.matches(&morning) && between.matches(&evening) && !between.matches(&next));
        let exact = check("CreatedDate", Op::After, Some(json!("2026-03-01T23:59:59.998Z"))).unwrap();
        assert!(exact.matches(&evening) && !exact.matches(&at("2026-03-01T23:59:59.998Z")));
        assert!(!before.matches(&contact(|_| {})), "an empty date is before nothing");
    }

    #[test]
    fn booleans_and_fields_an_object_lacks() {
        let opted_out = contact(|r| r.opted_out = true);
        assert!(check("HasOptedOutOfEmail", Op::IsTrue, None).unwrap().matches(&opted_out));
        assert!(check("IsConverted", Op::IsFalse, None).unwrap().matches(&opted_out), "a Contact is never converted");
        let status = check("Status", Op::Ne, Some(json!("Open"))).unwrap();
        assert!(status.matches(&opted_out), "a Contact has no lead status: it differs from every status");
    }

    #[test]
    fn bad_conditions_are_refused_with_a_code_and_a_path() {
        let refused = |field: &str, op: Op, value: Option<serde_json::Value>| check(field, op, value).unwrap_err();
        let unknown = refused("Nope__c", Op::Eq, Some(json!("x")));
        assert_eq!((unknown.code, unknown.path.as_deref()), ("unknown_field", Some("conditions[0].field")));
        assert_eq!(refused("Email", Op::Before, Some(json!("2026-01-01"))).code, "invalid_operator");
        assert_eq!(refused("HasOptedOutOfEmail", Op::Eq, Some(json!("true"))).code, "invalid_operator");
        for (field, op, value) in [
            ("Email", Op::Eq, None),
            ("Email", Op::Eq, Some(json!(""))),
            ("Email", Op::Eq, Some(json!({"a": 1}))),
            ("Email", Op::Eq, Some(json!("x".repeat(256)))),
            ("Email", Op::IsEmpty, Some(json!("x"))),
            ("Email", Op::In, Some(json!([]))),
            ("Email", Op::In, Some(json!("a,b"))),
            ("CreatedDate", Op::Before, Some(json!("yesterday"))),
            ("CreatedDate", Op::Between, Some(json!(["2026-02-01", "2026-01-01"]))),
            ("CreatedDate", Op::Between, Some(json!(["2026-02-01"]))),
        ] {
            let err = refused(field, op, value.clone());
            assert_eq!(
                (err.code, err.path.as_deref()),
                ("invalid_value", Some("conditions[0].value")),
                "{op:?} {value:?}"
            );
        }
    }
}
