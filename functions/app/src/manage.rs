//! Changing lists, for the pages and the API alike: creating, editing (refused over someone
//! else's newer edit), duplicating, deleting, and a static list's members.

use std::collections::HashSet;

use axum::http::StatusCode;
use outpost_shared::crypto;
use outpost_shared::ids::RecordId;
use outpost_shared::store::{ListDefinition, RecipientList, now_epoch};

use crate::definition::{Draft, MAX_NAME};
use crate::{AppError, AppState, Context};

/// The most lists an org keeps: the home page lists them all.
const MAX_LISTS: usize = 1_000;
/// The most members a static list holds; larger audiences are what dynamic lists are for.
const MAX_STATIC_MEMBERS: usize = 50_000;

/// A new list's, campaign's or revision's id: 16 URL-safe random characters (96 bits).
pub(crate) fn new_id() -> String {
    crypto::random_token().chars().take(16).collect()
}

/// Whether `id` could name a list or a campaign (anything else is not looked up).
pub(crate) fn is_item_id(id: &str) -> bool {
    id.len() == 16 && id.bytes().all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_')
}

/// What adding records to a static list did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Added {
    /// Records that were not members before.
    pub added: usize,
    /// Records already in the list.
    pub already: usize,
    /// The list's members now.
    pub members: usize,
}

fn not_static() -> AppError {
    AppError::new(
        StatusCode::CONFLICT,
        "not_static",
        "records are added to static lists only: a dynamic list's conditions choose its members",
    )
}

/// The record ids of a request (at most `max`), each valid and of an object the list holds.
fn record_ids(list: &RecipientList, ids: &[String], max: usize) -> Result<Vec<RecordId>, AppError> {
    if ids.is_empty() {
        return Err(AppError::bad_request("no_records", "name at least one record"));
    }
    if ids.len() > max {
        let message = format!("at most {max} records at a time");
        return Err(AppError::bad_request("too_many_records", message));
    }
    ids.iter()
        .enumerate()
        .map(|(index, id)| {
            let at = |code, message: String| AppError {
                path: Some(format!("ids[{index}]")),
                ..AppError::bad_request(code, message)
            };
            let record = RecordId::parse(id.trim())
                .map_err(|_| at("invalid_record_id", format!("{id:?} is not a Contact or Lead id")))?;
            if !list.objects.contains(&record.object()) {
                let message = format!("{record} is a {}, which this list does not hold", record.object().api_name());
                return Err(at("wrong_object", message));
            }
            Ok(record)
        })
        .collect()
}

impl AppState {
    /// Saves a new list owned by the user.
    pub(crate) async fn create_list(&self, context: &Context, draft: Draft) -> Result<RecipientList, AppError> {
        let store = &self.services.store;
        // A soft cap: creates racing each other may pass it by a few, which it only needs to bound.
        if store.lists(&context.who.org_id).await.map_err(AppError::store)?.len() >= MAX_LISTS {
            let message = format!("this organization has {MAX_LISTS} lists, the most Outpost keeps: delete some first");
            return Err(AppError::new(StatusCode::CONFLICT, "too_many_lists", message));
        }
        let now = now_epoch();
        let list = RecipientList {
            org_id: context.who.org_id,
            id: new_id(),
            name: draft.name,
            objects: draft.objects,
            definition: draft.definition,
            owner_id: context.who.user_id,
            created_at: now,
            updated_at: now,
            revision: new_id(),
            last_count: None,
            last_evaluated_at: None,
        };
        if !store.put_list(&list, None).await.map_err(AppError::store)? {
            return Err(AppError::list_changed());
        }
        tracing::info!(org = %list.org_id, list = %list.id, "list created");
        Ok(list)
    }

    /// Saves `draft` over `list`, unless someone changed the list since it was read.
    pub(crate) async fn update_list(
        &self,
        context: &Context,
        list: &RecipientList,
        draft: Draft,
    ) -> Result<RecipientList, AppError> {
        let updated = RecipientList {
            name: draft.name,
            objects: draft.objects,
            definition: draft.definition,
            updated_at: now_epoch(),
            revision: new_id(),
            last_count: None,
            last_evaluated_at: None,
            ..list.clone()
        };
        if !self.services.store.put_list(&updated, Some(&list.revision)).await.map_err(AppError::store)? {
            return Err(AppError::list_changed());
        }
        tracing::info!(org = %context.who.org_id, list = %list.id, "list changed");
        Ok(updated)
    }

    /// A copy of `list` (with its members, for a static list), owned by the user.
    pub(crate) async fn duplicate_list(
        &self,
        context: &Context,
        list: &RecipientList,
    ) -> Result<RecipientList, AppError> {
        let name: String = format!("Copy of {}", list.name).chars().take(MAX_NAME).collect();
        let draft =
            Draft { name, objects: list.objects.clone(), definition: list.definition.clone(), conditions: Vec::new() };
        let copy = self.create_list(context, draft).await?;
        if list.definition == ListDefinition::Static {
            let store = &self.services.store;
            let members = store.list_members(&list.org_id, &list.id).await.map_err(AppError::store)?;
            store.add_list_members(&copy.org_id, &copy.id, &members).await.map_err(AppError::store)?;
        }
        Ok(copy)
    }

    pub(crate) async fn delete_list(&self, context: &Context, list: &RecipientList) -> Result<(), AppError> {
        if !self.services.store.delete_list(&list.org_id, &list.id).await.map_err(AppError::store)? {
            return Err(AppError::list_not_found());
        }
        tracing::info!(org = %context.who.org_id, list = %list.id, "list deleted");
        Ok(())
    }

    /// The distinct records a change to static `list` names (at most `max`), and its members now.
    async fn static_change(
        &self,
        list: &RecipientList,
        ids: &[String],
        max: usize,
    ) -> Result<(HashSet<RecordId>, HashSet<RecordId>), AppError> {
        if list.definition != ListDefinition::Static {
            return Err(not_static());
        }
        // A record named twice counts once.
        let distinct: HashSet<RecordId> = record_ids(list, ids, max)?.into_iter().collect();
        let members = self.services.store.list_members(&list.org_id, &list.id).await.map_err(AppError::store)?;
        Ok((distinct, members.into_iter().collect()))
    }

    /// Adds records to a static list (records not yet synced count once they are).
    pub(crate) async fn add_members(
        &self,
        list: &RecipientList,
        ids: &[String],
        max: usize,
    ) -> Result<Added, AppError> {
        let (distinct, members) = self.static_change(list, ids, max).await?;
        let new: Vec<RecordId> = distinct.iter().copied().filter(|id| !members.contains(id)).collect();
        // Soft, as the list cap: concurrent adds may pass it by one request's worth.
        if members.len() + new.len() > MAX_STATIC_MEMBERS {
            let message = format!("a static list holds at most {MAX_STATIC_MEMBERS} records: use a dynamic list");
            return Err(AppError::new(StatusCode::CONFLICT, "list_full", message));
        }
        self.services.store.add_list_members(&list.org_id, &list.id, &new).await.map_err(AppError::store)?;
        tracing::info!(org = %list.org_id, list = %list.id, added = new.len(), "members added");
        Ok(Added { added: new.len(), already: distinct.len() - new.len(), members: members.len() + new.len() })
    }

    /// Takes records (at most `max`) out of a static list; returns how many were members.
    pub(crate) async fn remove_members(
        &self,
        context: &Context,
        list: &RecipientList,
        ids: &[String],
        max: usize,
    ) -> Result<usize, AppError> {
        let (distinct, members) = self.static_change(list, ids, max).await?;
        let removed: Vec<RecordId> = distinct.into_iter().filter(|id| members.contains(id)).collect();
        self.services.store.remove_list_members(&list.org_id, &list.id, &removed).await.map_err(AppError::store)?;
        tracing::info!(org = %context.who.org_id, list = %list.id, removed = removed.len(), "members removed");
        Ok(removed.len())
    }
}
