//! A list as a request describes it (JSON from the API, a form from the list builder), checked
//! into what the store keeps and what evaluation runs.

use outpost_shared::ids::RecipientObject;
use outpost_shared::lists::{Catalog, Condition, ConditionSpec, ListError, MAX_CONDITIONS, Op, checked};
use outpost_shared::store::{ListDefinition, RecipientList};
use outpost_shared::web;
use serde::Deserialize;

/// The longest list name.
pub(crate) const MAX_NAME: usize = 80;

/// A list body as the API takes it; every field is optional so that `PATCH` can change one.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListBody {
    #[serde(default)]
    pub name: Option<String>,
    /// `dynamic` (conditions, the default) or `static` (records added one by one).
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub objects: Option<Vec<String>>,
    /// `all` (the default) or `any`.
    #[serde(default, rename = "match")]
    pub match_: Option<String>,
    #[serde(default)]
    pub conditions: Option<Vec<ConditionSpec>>,
}

/// A checked list definition.
#[derive(Debug, Clone)]
pub struct Draft {
    pub name: String,
    pub objects: Vec<RecipientObject>,
    pub definition: ListDefinition,
    pub conditions: Vec<Condition>,
}

fn refused(code: &'static str, message: impl Into<String>, path: &str) -> ListError {
    ListError::new(code, message, Some(path.to_owned()))
}

/// The objects named, each once, in Salesforce's order.
fn objects(names: &[String]) -> Result<Vec<RecipientObject>, ListError> {
    let mut objects = Vec::new();
    for name in names {
        let object = RecipientObject::from_api_name(name)
            .ok_or_else(|| refused("invalid_objects", format!("{name:?} is neither Contact nor Lead"), "objects"))?;
        if !objects.contains(&object) {
            objects.push(object);
        }
    }
    if objects.is_empty() {
        return Err(refused("invalid_objects", "choose Contacts, Leads or both", "objects"));
    }
    objects.sort_by_key(|object| RecipientObject::ALL.iter().position(|each| each == object));
    Ok(objects)
}

impl Draft {
    /// A new list from `body`; `needs_name` is false for a preview.
    pub fn new(body: ListBody, catalog: &Catalog, needs_name: bool) -> Result<Self, ListError> {
        Self::build(body, None, catalog, needs_name)
    }

    /// `existing` with the fields `body` names changed.
    pub fn change(existing: &RecipientList, body: ListBody, catalog: &Catalog) -> Result<Self, ListError> {
        Self::build(body, Some(existing), catalog, true)
    }

    fn build(
        body: ListBody,
        existing: Option<&RecipientList>,
        catalog: &Catalog,
        needs_name: bool,
    ) -> Result<Self, ListError> {
        let name = match (body.name, existing) {
            (Some(name), _) => name.trim().to_owned(),
            (None, Some(existing)) => existing.name.clone(),
            (None, None) => String::new(),
        };
        if needs_name && (name.is_empty() || name.chars().count() > MAX_NAME) {
            return Err(refused("invalid_name", format!("a list needs a name of 1 to {MAX_NAME} characters"), "name"));
        }
        let objects = match (body.objects, existing) {
            (Some(names), _) => objects(&names)?,
            (None, Some(existing)) => existing.objects.clone(),
            (None, None) => return Err(refused("invalid_objects", "choose Contacts, Leads or both", "objects")),
        };
        let existing_definition = existing.map(|list| &list.definition);
        let requested_static = match body.kind.as_deref() {
            None => None,
            Some("static") => Some(true),
            Some("dynamic") => Some(false),
            Some(kind) => {
                return Err(refused("invalid_kind", format!("{kind:?} is neither dynamic nor static"), "kind"));
            }
        };
        let existing_static = existing_definition.map(|definition| *definition == ListDefinition::Static);
        let is_static = match (requested_static, existing_static) {
            (Some(requested), Some(existing)) if requested != existing => {
                return Err(refused("invalid_kind", "a list's kind cannot change", "kind"));
            }
            (Some(requested), _) => requested,
            (None, existing) => existing.unwrap_or(false),
        };
        if is_static {
            if body.conditions.as_ref().is_some_and(|conditions| !conditions.is_empty()) || body.match_.is_some() {
                return Err(refused("invalid_kind", "a static list takes records, not conditions", "conditions"));
            }
            return Ok(Self { name, objects, definition: ListDefinition::Static, conditions: Vec::new() });
        }
        let (old_match, old_conditions) = match existing_definition {
            Some(ListDefinition::Dynamic { match_all, conditions }) => (*match_all, conditions.clone()),
            _ => (true, Vec::new()),
        };
        let match_all = match body.match_.as_deref() {
            None => old_match,
            Some("all") => true,
            Some("any") => false,
            Some(other) => {
                return Err(refused("invalid_match", format!("match is all or any, not {other:?}"), "match"));
            }
        };
        let specs = body.conditions.unwrap_or(old_conditions);
        let conditions = checked(&specs, catalog)?;
        Ok(Self { name, objects, definition: ListDefinition::Dynamic { match_all, conditions: specs }, conditions })
    }
}

/// One condition row of the list builder's form, as typed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FormRow {
    pub field: String,
    pub op: String,
    pub value: String,
    pub value2: String,
}

impl FormRow {
    /// The row of a saved condition.
    pub fn of(spec: &ConditionSpec) -> Self {
        let text = |value: &serde_json::Value| match value {
            serde_json::Value::String(text) => text.clone(),
            other => other.to_string(),
        };
        let (value, value2) = match (&spec.value, spec.op) {
            (Some(serde_json::Value::Array(values)), Op::Between) => {
                (values.first().map(text).unwrap_or_default(), values.get(1).map(text).unwrap_or_default())
            }
            (Some(serde_json::Value::Array(values)), _) => {
                (values.iter().map(text).collect::<Vec<_>>().join(", "), String::new())
            }
            (Some(value), _) => (text(value), String::new()),
            (None, _) => (String::new(), String::new()),
        };
        Self { field: spec.field.clone(), op: spec.op.as_str().to_owned(), value, value2 }
    }

    /// The condition this row asks for; `None` for a row left blank.
    fn spec(&self, index: usize) -> Option<Result<ConditionSpec, ListError>> {
        if self.field.is_empty() {
            return None;
        }
        let Some(op) = Op::parse(&self.op) else {
            return Some(Err(refused("invalid_operator", "choose how to compare", &format!("conditions[{index}].op"))));
        };
        let value = if op.is_unary() {
            None
        } else if op == Op::In {
            let values = self.value.split(',').map(str::trim).filter(|value| !value.is_empty());
            Some(serde_json::Value::Array(values.map(|value| serde_json::Value::String(value.to_owned())).collect()))
        } else if op == Op::Between {
            Some(serde_json::json!([self.value.trim(), self.value2.trim()]))
        } else {
            Some(serde_json::Value::String(self.value.trim().to_owned()))
        };
        Some(Ok(ConditionSpec { field: self.field.clone(), op, value }))
    }
}

/// The list builder's form, as posted.
#[derive(Debug, Clone, Default)]
pub struct ListForm {
    pub name: String,
    pub kind: String,
    pub objects: Vec<String>,
    pub match_: String,
    pub rows: Vec<FormRow>,
    pub csrf: String,
    /// The revision of the list the form edits.
    pub revision: String,
    /// Which button was pressed: `save`, `count`, `add_row`, or `remove_<n>`.
    pub action: String,
}

/// The most condition rows a form may post (the conditions allowed, and a few blank ones).
const MAX_ROWS: usize = MAX_CONDITIONS + 10;

impl ListForm {
    /// Reads a posted form; an unknown field, a repeated single field or too many rows is refused.
    pub fn parse(body: &[u8]) -> Result<Self, ListError> {
        let malformed = || refused("bad_request", "the form is malformed", "form");
        if !web::decodes_as_utf8(body) {
            return Err(malformed());
        }
        let mut form = ListForm { match_: "all".into(), kind: "dynamic".into(), ..Default::default() };
        let mut seen = std::collections::HashSet::new();
        for (name, value) in url::form_urlencoded::parse(body) {
            let value = value.into_owned();
            if name != "objects" && !seen.insert(name.to_string()) {
                return Err(malformed());
            }
            match name.as_ref() {
                "name" => form.name = value,
                "kind" => form.kind = value,
                "objects" => form.objects.push(value),
                "match" => form.match_ = value,
                "csrf" => form.csrf = value,
                "revision" => form.revision = value,
                "action" => form.action = value,
                other => {
                    let (index, part) = other
                        .strip_prefix('c')
                        .and_then(|rest| rest.split_once('_'))
                        .and_then(|(index, part)| Some((index.parse::<usize>().ok()?, part)))
                        .filter(|(index, _)| *index < MAX_ROWS)
                        .ok_or_else(malformed)?;
                    if form.rows.len() <= index {
                        form.rows.resize(index + 1, FormRow::default());
                    }
                    let row = &mut form.rows[index];
                    match part {
                        "field" => row.field = value,
                        "op" => row.op = value,
                        "value" => row.value = value,
                        "value2" => row.value2 = value,
                        _ => return Err(malformed()),
                    }
                }
            }
        }
        Ok(form)
    }

    /// Points a definition's error at the form's row: a definition numbers only the conditions
    /// filled in, the form numbers every row, blank ones included.
    pub fn locate(&self, mut err: ListError) -> ListError {
        let place = err.path.as_deref().and_then(|path| path.strip_prefix("conditions[")?.split_once(']'));
        let row = place.and_then(|(number, rest)| {
            let number: usize = number.parse().ok()?;
            let filled = self.rows.iter().enumerate().filter(|(_, row)| !row.field.is_empty());
            filled.map(|(index, _)| index).nth(number).map(|index| format!("conditions[{index}]{rest}"))
        });
        if let Some(path) = row {
            err.path = Some(path);
        }
        err
    }

    /// The list body the form describes (blank rows left out).
    pub fn body(&self) -> Result<ListBody, ListError> {
        let conditions =
            self.rows.iter().enumerate().filter_map(|(index, row)| row.spec(index)).collect::<Result<Vec<_>, _>>()?;
        let is_static = self.kind == "static";
        Ok(ListBody {
            name: Some(self.name.clone()),
            kind: Some(self.kind.clone()),
            objects: Some(self.objects.clone()),
            match_: (!is_static).then(|| self.match_.clone()),
            conditions: (!is_static).then_some(conditions),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(json: serde_json::Value) -> ListBody {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn an_error_in_a_condition_points_at_its_row_past_blank_ones() {
        let row =
            |field: &str| FormRow { field: field.into(), op: "eq".into(), value: "x".into(), ..FormRow::default() };
        let form = ListForm {
            name: "Rows".into(),
            kind: "dynamic".into(),
            objects: vec!["Contact".into()],
            match_: "all".into(),
            rows: vec![row(""), row("Country"), row(""), row("NoSuchField")],
            ..ListForm::default()
        };
        let err = Draft::new(form.body().unwrap(), &Catalog::default(), true).err().unwrap();
        assert_eq!(err.path.as_deref(), Some("conditions[1].field"), "numbered among the filled-in rows");
        assert_eq!(form.locate(err).path.as_deref(), Some("conditions[3].field"), "the form's own row");
    }

    #[test]
    fn a_dynamic_list_is_checked_whole() {
        let catalog = Catalog::default();
        let draft = Draft::new(
            body(serde_json::json!({"name": " Germany ", "objects": ["Lead", "Contact", "Lead"], "match": "any",
                "conditions": [{"field": "Country", "op": "eq", "value": "Germany"}]})),
            &catalog,
            true,
        )
        .unwrap();
        assert_eq!(draft.name, "Germany");
        assert_eq!(draft.objects, RecipientObject::ALL.to_vec());
        assert!(
            matches!(draft.definition, ListDefinition::Dynamic { match_all: false, ref conditions } if conditions.len() == 1)
        );
        let refusals = [
            (serde_json::json!({"objects": ["Contact"]}), "invalid_name"),
            (serde_json::json!({"name": "x", "objects": []}), "invalid_objects"),
            (serde_json::json!({"name": "x", "objects": ["Account"]}), "invalid_objects"),
            (serde_json::json!({"name": "x", "objects": ["Lead"], "match": "most"}), "invalid_match"),
            (
                serde_json::json!({"name": "x", "objects": ["Lead"], "kind": "static", "conditions": [{"field": "Email", "op": "is_empty"}]}),
                "invalid_kind",
            ),
            (
                serde_json::json!({"name": "x", "objects": ["Lead"], "conditions": [{"field": "Nope", "op": "eq", "value": "x"}]}),
                "unknown_field",
            ),
        ];
        for (json, code) in refusals {
            assert_eq!(Draft::new(body(json.clone()), &catalog, true).unwrap_err().code, code, "{json}");
        }
        let many: Vec<serde_json::Value> =
            (0..51).map(|_| serde_json::json!({"field": "Email", "op": "not_empty"})).collect();
        let too_many = body(serde_json::json!({"name": "x", "objects": ["Lead"], "conditions": many}));
        assert_eq!(Draft::new(too_many, &catalog, true).unwrap_err().code, "too_many_conditions");
        assert!(serde_json::from_value::<ListBody>(serde_json::json!({"name": "x", "surprise": 1})).is_err());
    }

    #[test]
    fn the_builders_form_reads_rows_and_round_trips_saved_conditions() {
        let form = ListForm::parse(
            b"name=VIPs&objects=Contact&objects=Lead&match=any&c0_field=Title&c0_op=in&c0_value=CEO%2C+CTO+&\
              c1_field=&c1_op=eq&c2_field=CreatedDate&c2_op=between&c2_value=2026-01-01&c2_value2=2026-01-31&csrf=t&action=save",
        )
        .unwrap();
        assert_eq!((form.objects.len(), form.rows.len(), form.action.as_str()), (2, 3, "save"));
        let body = form.body().unwrap();
        let specs = body.conditions.clone().unwrap();
        assert_eq!(specs.len(), 2, "the blank row is left out");
        assert_eq!(specs[0].value, Some(serde_json::json!(["CEO", "CTO"])));
        assert_eq!(FormRow::of(&specs[1]), form.rows[2]);
        assert_eq!(FormRow::of(&specs[0]).value, "CEO, CTO");
        for bad in [&b"name=a&name=b"[..], b"c99999_field=x", b"c0_colour=red", b"evil=1"] {
            assert!(ListForm::parse(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }
}
