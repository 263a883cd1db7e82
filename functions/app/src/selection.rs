//! Records chosen in Salesforce, added to a static list: the one record a link came from
//! (`/app?rid=`), or the records selected in a list view (the "Add to Outpost list" button posts
//! them to `/entry`, which keeps them as a selection for 30 minutes and sends the user here).

use std::sync::Arc;

use askama::Template;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use outpost_shared::crypto;
use outpost_shared::ids::{RecipientObject, RecordId};
use outpost_shared::store::{PendingSelection, RecipientList, now_epoch};
use outpost_shared::web::{Page, Scripts};

use crate::definition::{Draft, ListBody};
use crate::members::MemberView;
use crate::pages::{ChooseList, RecordPanel, Visit, field, objects_label, see_other, static_choices};
use crate::{AppError, AppState, Context};

/// Selected records shown by name before they are added.
const SHOWN: usize = 20;

/// The record a link named, to offer adding it; or why it cannot be added.
pub(crate) async fn record_panel(
    state: &AppState,
    context: &Context,
    id: RecordId,
    lists: &[RecipientList],
) -> Result<(Option<RecordPanel>, Option<String>), AppError> {
    let recipient = state.services.store.get_recipient(&context.who.org_id, &id).await.map_err(AppError::store)?;
    let visible = |owner: &Option<String>| context.owner().is_none_or(|user| owner.as_deref() == Some(user));
    match recipient.filter(|recipient| recipient.is_member() && visible(&recipient.owner_id)) {
        Some(recipient) => {
            let view = MemberView::of(&recipient, context.salesforce.origin());
            let choose = ChooseList {
                action: "/app/selections".into(),
                rid: Some(id.to_string()),
                choices: static_choices(lists, id.object()),
            };
            let panel = RecordPanel {
                name: view.name(),
                id: view.id,
                object: view.object,
                email: view.email.unwrap_or_default(),
                choose,
            };
            Ok((Some(panel), None))
        }
        None => {
            let problem = format!(
                "The {} you came from is not in Outpost yet (it arrives with the next sync), or is not one you can use.",
                id.object().api_name()
            );
            Ok((None, Some(problem)))
        }
    }
}

/// Adds `ids` (of `object`) to the list the form chose: an existing static list (`list`), or a
/// new one called `name`. Answers with the list's page.
async fn add_to_chosen_list(
    state: &AppState,
    context: &Context,
    object: RecipientObject,
    ids: &[RecordId],
    list_id: &str,
    new_name: &str,
) -> Result<Response, AppError> {
    let (list, created) = if list_id.is_empty() {
        let body = ListBody {
            name: Some(new_name.to_owned()),
            kind: Some("static".into()),
            objects: Some(vec![object.api_name().to_owned()]),
            ..ListBody::default()
        };
        let draft: Draft = Draft::new(body, &context.catalog, true)?;
        (state.create_list(context, draft).await?, true)
    } else {
        (state.visible_list(context, list_id).await?, false)
    };
    let ids: Vec<String> = ids.iter().map(ToString::to_string).collect();
    if let Err(err) = state.add_members(&list, &ids, PendingSelection::MAX_RECORDS).await {
        // A list made only for these records is no use without them.
        if created && let Err(cleanup) = state.services.store.delete_list(&list.org_id, &list.id).await {
            tracing::warn!(error = %cleanup, list = %list.id, "could not remove the list made for a failed add");
        }
        return Err(err);
    }
    Ok(see_other(&format!("/app/lists/{}", list.id)))
}

/// `POST /app/selections`: adds the record a link came from (`rid`) to a list.
pub async fn from_record(
    State(state): State<Arc<AppState>>,
    visit: Visit,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let result = async {
        let fields = visit.form(body, &["rid", "list", "name"], &[])?;
        let record = RecordId::parse(&field(&fields, "rid"))
            .map_err(|_| AppError::bad_request("invalid_record_id", "the record is not a Contact or Lead"))?;
        let context = &visit.context;
        add_to_chosen_list(
            &state,
            context,
            record.object(),
            &[record],
            &field(&fields, "list"),
            &field(&fields, "name"),
        )
        .await
    }
    .await;
    visit.finish(result)
}

#[derive(Template)]
#[template(path = "selection.html")]
struct SelectionView {
    page: Page,
    csrf: String,
    objects: &'static str,
    selected: usize,
    shown: Vec<MemberView>,
    /// Selected records Outpost does not have (not synced yet, or not the user's).
    unknown: usize,
    choose: ChooseList,
}

/// The user's own live selection.
async fn selection_of(state: &AppState, context: &Context, token: &str) -> Result<PendingSelection, AppError> {
    let selection = match crypto::is_random_token(token) {
        true => state.services.store.get_selection(token).await.map_err(AppError::store)?,
        false => None,
    };
    selection
        .filter(|selection| {
            selection.org_id == context.who.org_id
                && selection.user_id == context.who.user_id
                && selection.expires_at > now_epoch()
        })
        .ok_or_else(|| {
            let message = "this selection has expired or is not yours: select the records in Salesforce again";
            AppError::new(StatusCode::NOT_FOUND, "selection_not_found", message)
        })
}

/// `GET /app/selections/{token}`: the selected records, and the lists they can go to.
pub async fn show(State(state): State<Arc<AppState>>, visit: Visit, Path(token): Path<String>) -> Response {
    let result = async {
        let context = &visit.context;
        let selection = selection_of(&state, context, &token).await?;
        let (snapshot, lists) = tokio::join!(state.snapshot(context), state.services.store.lists(&context.who.org_id));
        let (snapshot, lists) = (snapshot?, lists.map_err(AppError::store)?);
        let lists: Vec<RecipientList> = lists.into_iter().filter(|list| context.may_see(list)).collect();
        let wanted: std::collections::HashSet<RecordId> = selection.ids.iter().copied().collect();
        let known: Vec<MemberView> = snapshot
            .recipients
            .iter()
            .filter(|recipient| wanted.contains(&recipient.id) && recipient.is_member())
            .filter(|recipient| context.owner().is_none_or(|owner| recipient.owner_id.as_deref() == Some(owner)))
            .map(|recipient| MemberView::of(recipient, context.salesforce.origin()))
            .collect();
        let view = SelectionView {
            page: Page::new("Add to a list"),
            csrf: visit.csrf.clone(),
            objects: objects_label(&[selection.object]),
            selected: wanted.len(),
            unknown: wanted.len().saturating_sub(known.len()),
            shown: known.into_iter().take(SHOWN).collect(),
            choose: ChooseList {
                action: format!("/app/selections/{token}"),
                rid: None,
                choices: static_choices(&lists, selection.object),
            },
        };
        Ok(visit.render(StatusCode::OK, &view, &view.page, Scripts::None))
    }
    .await;
    visit.finish(result)
}

/// `POST /app/selections/{token}`: adds the selected records to the chosen list.
pub async fn add(
    State(state): State<Arc<AppState>>,
    visit: Visit,
    Path(token): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let result = async {
        let fields = visit.form(body, &["list", "name"], &[])?;
        let context = &visit.context;
        let selection = selection_of(&state, context, &token).await?;
        add_to_chosen_list(
            &state,
            context,
            selection.object,
            &selection.ids,
            &field(&fields, "list"),
            &field(&fields, "name"),
        )
        .await
    }
    .await;
    visit.finish(result)
}
