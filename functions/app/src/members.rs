//! Evaluating lists for a request, and their members as the members table, the API and exports
//! show them.

use std::cmp::Ordering;
use std::collections::HashSet;
use std::sync::Arc;

use outpost_shared::ids::RecordId;
use outpost_shared::lists::{Condition, Evaluation, Exclusions, Query, Selection, Snapshot, evaluate};
use outpost_shared::store::{ListDefinition, Recipient, RecipientList, now_epoch};
use serde::Serialize;

use crate::definition::Draft;
use crate::{AppError, AppState, Context};
use outpost_shared::lists::checked;

/// A list evaluated now.
pub(crate) struct Evaluated {
    pub snapshot: Arc<Snapshot>,
    pub evaluation: Evaluation,
    /// The list's conditions: the fields they name are the export's extra columns.
    pub conditions: Vec<Condition>,
}

impl Evaluated {
    pub fn count(&self) -> u64 {
        self.evaluation.members.len() as u64
    }

    pub fn excluded(&self) -> Exclusions {
        self.evaluation.excluded
    }

    pub fn members(&self) -> impl ExactSizeIterator<Item = &Recipient> {
        self.evaluation.members(&self.snapshot.recipients)
    }
}

impl AppState {
    /// Evaluates a draft (a preview, or a list being saved) over the org's recipients.
    pub(crate) async fn evaluate_draft(&self, context: &Context, draft: &Draft) -> Result<Evaluated, AppError> {
        let snapshot = self.snapshot(context).await?;
        let evaluation = match &draft.definition {
            ListDefinition::Dynamic { match_all, .. } => evaluate(
                &snapshot.recipients,
                &Query {
                    objects: &draft.objects,
                    selection: Selection::Conditions { match_all: *match_all, conditions: &draft.conditions },
                    owner: context.owner(),
                },
            ),
            ListDefinition::Static => Evaluation::default(),
        };
        Ok(Evaluated { snapshot, evaluation, conditions: draft.conditions.clone() })
    }

    /// Evaluates a saved list, and remembers its count when it changed.
    pub(crate) async fn evaluate_list(&self, context: &Context, list: &RecipientList) -> Result<Evaluated, AppError> {
        let snapshot = self.snapshot(context).await?;
        let (evaluation, conditions) = match &list.definition {
            ListDefinition::Dynamic { match_all, conditions } => {
                // A field the org no longer reads makes a saved condition unusable: say so.
                let conditions = checked(conditions, &context.catalog).map_err(|err| {
                    AppError::new(
                        axum::http::StatusCode::CONFLICT,
                        "list_needs_edit",
                        format!("edit this list: {}", err.message),
                    )
                })?;
                let selection = Selection::Conditions { match_all: *match_all, conditions: &conditions };
                let query = Query { objects: &list.objects, selection, owner: context.owner() };
                (evaluate(&snapshot.recipients, &query), conditions)
            }
            ListDefinition::Static => {
                let members =
                    self.services.store.list_members(&list.org_id, &list.id).await.map_err(AppError::store)?;
                let members: HashSet<RecordId> = members.into_iter().collect();
                let query =
                    Query { objects: &list.objects, selection: Selection::Members(&members), owner: context.owner() };
                (evaluate(&snapshot.recipients, &query), Vec::new())
            }
        };
        let evaluated = Evaluated { snapshot, evaluation, conditions };
        if list.last_count != Some(evaluated.count()) {
            let counted = RecipientList {
                last_count: Some(evaluated.count()),
                last_evaluated_at: Some(now_epoch()),
                ..list.clone()
            };
            // Only over the revision evaluated: a count never overwrites a newer edit.
            if let Err(err) = self.services.store.put_list(&counted, Some(&list.revision)).await {
                tracing::warn!(error = %err, "could not save the list's count");
            }
        }
        Ok(evaluated)
    }

    /// A list of the org that this user may see (under `owner` visibility, only their own).
    pub(crate) async fn visible_list(&self, context: &Context, id: &str) -> Result<RecipientList, AppError> {
        if !crate::manage::is_item_id(id) {
            return Err(AppError::list_not_found());
        }
        let list = self.services.store.get_list(&context.who.org_id, id).await.map_err(AppError::store)?;
        list.filter(|list| context.may_see(list)).ok_or_else(AppError::list_not_found)
    }
}

/// A member as the members table and the API show it.
#[derive(Debug, Clone, Serialize)]
pub struct MemberView {
    pub id: String,
    pub object: &'static str,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub owner_id: Option<String>,
    pub title: Option<String>,
    pub company: Option<String>,
    pub country: Option<String>,
    /// The record in Salesforce.
    pub url: String,
}

impl MemberView {
    pub fn of(recipient: &Recipient, salesforce: &str) -> Self {
        let company = recipient.company.clone().or_else(|| recipient.account_name.clone());
        Self {
            id: recipient.id.to_string(),
            object: recipient.id.object().api_name(),
            first_name: recipient.first_name.clone(),
            last_name: recipient.last_name.clone(),
            email: recipient.email.clone(),
            owner_id: recipient.owner_id.clone(),
            title: recipient.title.clone(),
            company,
            country: recipient.country.clone(),
            url: format!("{}/{}", salesforce.trim_end_matches('/'), recipient.id),
        }
    }

    /// `First Last`, or whichever is known.
    pub fn name(&self) -> String {
        [self.first_name.as_deref(), self.last_name.as_deref()].into_iter().flatten().collect::<Vec<_>>().join(" ")
    }
}

/// How the members table orders rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    Name,
    Email,
}

impl Order {
    pub fn parse(text: Option<&str>) -> Self {
        if text == Some("email") { Order::Email } else { Order::Name }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Order::Name => "name",
            Order::Email => "email",
        }
    }
}

/// `a` against `b`, case-insensitively, without allocating (this runs for every member).
fn caseless(a: Option<&str>, b: Option<&str>) -> Ordering {
    fn lower(text: Option<&str>) -> impl Iterator<Item = char> + '_ {
        text.unwrap_or_default().chars().flat_map(char::to_lowercase)
    }
    lower(a).cmp(lower(b))
}

/// How rows sort by name: last name, first name (case-insensitively), then id.
pub fn by_name(a: &Recipient, b: &Recipient) -> Ordering {
    caseless(a.last_name.as_deref(), b.last_name.as_deref())
        .then_with(|| caseless(a.first_name.as_deref(), b.first_name.as_deref()))
        .then_with(|| a.id.cmp(&b.id))
}

/// How rows sort by email (case-insensitively), then id.
fn by_email(a: &Recipient, b: &Recipient) -> Ordering {
    caseless(a.email.as_deref(), b.email.as_deref()).then_with(|| a.id.cmp(&b.id))
}

impl Order {
    fn compare(self) -> fn(&Recipient, &Recipient) -> Ordering {
        match self {
            Order::Name => by_name,
            Order::Email => by_email,
        }
    }
}

/// The members matching `search` (in name or email, case-insensitively), ordered.
pub fn table<'a>(members: impl Iterator<Item = &'a Recipient>, search: &str, order: Order) -> Vec<&'a Recipient> {
    let needle = search.trim().to_lowercase();
    let mut rows: Vec<&Recipient> = members
        .filter(|recipient| {
            needle.is_empty()
                || [&recipient.first_name, &recipient.last_name, &recipient.email]
                    .into_iter()
                    .flatten()
                    .any(|text| text.to_lowercase().contains(&needle))
        })
        .collect();
    let compare = order.compare();
    rows.sort_unstable_by(|a, b| compare(a, b));
    rows
}

/// The first `n` members by name, without sorting them all (a preview's sample of a large list).
pub fn first_by_name<'a>(members: impl Iterator<Item = &'a Recipient>, n: usize) -> Vec<&'a Recipient> {
    let mut rows: Vec<&Recipient> = members.collect();
    if rows.len() > n {
        rows.select_nth_unstable_by(n, |a, b| by_name(a, b));
        rows.truncate(n);
    }
    rows.sort_unstable_by(|a, b| by_name(a, b));
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recipient(id: &str, first: &str, last: &str, email: &str) -> Recipient {
        Recipient {
            first_name: Some(first.into()),
            last_name: Some(last.into()),
            email: Some(email.into()),
            ..Recipient::empty(RecordId::parse(id).unwrap(), 1)
        }
    }

    #[test]
    fn the_table_searches_names_and_emails_and_sorts() {
        let recipients = [
            recipient("003q0000000000A", "Grace", "Hopper", "grace@navy.example"),
            recipient("003q0000000000B", "Ada", "Lovelace", "ada@example.com"),
            recipient("00Qq0000000000C", "Alan", "Turing", "alan@EXAMPLE.com"),
        ];
        let names = |rows: Vec<&Recipient>| rows.iter().map(|r| r.first_name.clone().unwrap()).collect::<Vec<_>>();
        assert_eq!(names(table(recipients.iter(), "", Order::Name)), ["Grace", "Ada", "Alan"]);
        assert_eq!(names(table(recipients.iter(), "", Order::Email)), ["Ada", "Alan", "Grace"]);
        assert_eq!(names(table(recipients.iter(), "example.COM", Order::Name)), ["Ada", "Alan"]);
        assert_eq!(names(table(recipients.iter(), " hop", Order::Name)), ["Grace"]);
        assert_eq!(names(first_by_name(recipients.iter(), 2)), ["Grace", "Ada"]);
        assert_eq!(names(first_by_name(recipients.iter(), 5)), ["Grace", "Ada", "Alan"]);
        let view = MemberView::of(&recipients[1], "https://acme.my.salesforce.com/");
        assert_eq!(view.url, "https://acme.my.salesforce.com/003q0000000000BAAQ");
        assert_eq!(view.name(), "Ada Lovelace");
    }
}
