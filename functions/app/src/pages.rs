//! The pages people use at `/app`: their lists, the list builder (live count with the script, a
//! Count button without it), a list with its members, and the forms that change them. Every form
//! carries a CSRF token bound to the session; every page may only be framed by the org's
//! Salesforce domains.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use askama::Template;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequestParts, Path, RawQuery, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use outpost_shared::app_session::{self, LOGOUT_CSRF};
use outpost_shared::authorized::Authorized;
use outpost_shared::ids::{RecipientObject, UserId};
use outpost_shared::lists::{Catalog, ConditionSpec, Exclusions, FieldKind, MAX_CONDITIONS, Op};
use outpost_shared::salesforce::SfDateTime;
use outpost_shared::signed::Signer;
use outpost_shared::store::{EpochSeconds, ListDefinition, RecipientList};
use outpost_shared::web::{self, Framing, Page, Scripts};

use crate::definition::{Draft, FormRow, ListForm};
use crate::members::{Evaluated, MemberView, Order, first_by_name, table};
use crate::{AppError, AppState, Context};

/// What app forms' CSRF tokens are for.
pub(crate) const APP_CSRF: &str = "app";

/// Members shown per page of the members table, and in a list's or a preview's sample.
const PAGE_ROWS: usize = 50;
const SAMPLE_ROWS: usize = 20;

/// One page view by a signed-in user: their context, who may frame the answer, and the CSRF token
/// for its forms.
pub(crate) struct Visit {
    pub context: Context,
    pub framing: Framing,
    pub csrf: String,
    signer: Signer,
    session_hash: String,
}

/// Every page handler starts with its visit; the rejection is a page saying why not.
impl FromRequestParts<Arc<AppState>> for Visit {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> Result<Self, Response> {
        let who = Authorized::from_request_parts(parts, state).await.map_err(IntoResponse::into_response)?;
        Visit::start(state, who, &parts.headers).await
    }
}

impl Visit {
    /// The visit of `who`; a page explaining why not when their org cannot use Outpost.
    async fn start(state: &AppState, who: Authorized, headers: &HeaderMap) -> Result<Self, Response> {
        let policy = state.services.config.host_policy;
        let unframed = Framing::any(policy);
        let context = state.context(who).await.map_err(|err| err.html(&unframed))?;
        let signer = state.signer().await.map_err(|err| err.html(&unframed))?;
        let cookies = headers.get_all(header::COOKIE).iter().filter_map(|value| value.to_str().ok());
        let session_hash = app_session::session_hash_of(cookies).unwrap_or_default();
        let csrf = signer.csrf_token(APP_CSRF, &session_hash);
        let framing = Framing::org(&context.salesforce, context.org.namespace.as_ref());
        Ok(Self { context, framing, csrf, signer, session_hash })
    }

    /// A form this session posted, strictly read (`csrf` and the `single` fields at most once,
    /// `repeatable` ones any number of times, nothing else), its token checked.
    pub fn form(
        &self,
        body: Result<Bytes, BytesRejection>,
        single: &[&str],
        repeatable: &[&str],
    ) -> Result<HashMap<String, Vec<String>>, AppError> {
        let body = body.map_err(|_| AppError::bad_request("invalid_form", "the form could not be read"))?;
        let single: Vec<&str> = single.iter().copied().chain(["csrf"]).collect();
        let fields = web::form_fields(&body, &single, repeatable)
            .ok_or_else(|| AppError::bad_request("invalid_form", "the form is malformed"))?;
        self.check_csrf(&field(&fields, "csrf"))?;
        Ok(fields)
    }

    /// Refuses a form whose token was not issued for this session.
    fn check_csrf(&self, token: &str) -> Result<(), AppError> {
        let valid = !self.session_hash.is_empty() && self.signer.verify_csrf(APP_CSRF, &self.session_hash, token);
        if valid { Ok(()) } else { Err(AppError::csrf()) }
    }

    /// The page, or the error page, framed for the org.
    pub fn finish(&self, result: Result<Response, AppError>) -> Response {
        result.unwrap_or_else(|err| err.html(&self.framing))
    }

    /// `view` as this visit's HTML answer.
    pub fn render<T: Template>(&self, status: StatusCode, view: &T, page: &Page, scripts: Scripts) -> Response {
        web::html(status, view.render(), page, &self.framing, scripts)
    }
}

/// A redirect after a form, to the page showing its result.
pub(crate) fn see_other(location: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(location) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

/// The first value of each query parameter (a page's query is a courtesy: extra ones are ignored).
pub(crate) fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

/// The one value of a form field, or empty.
pub(crate) fn field(fields: &std::collections::HashMap<String, Vec<String>>, name: &str) -> String {
    fields.get(name).and_then(|values| values.first()).cloned().unwrap_or_default()
}

fn date(at: EpochSeconds) -> String {
    SfDateTime::from_millis(at.saturating_mul(1000)).date()
}

pub(crate) fn objects_label(objects: &[RecipientObject]) -> &'static str {
    match objects {
        [RecipientObject::Contact] => "Contacts",
        [RecipientObject::Lead] => "Leads",
        _ => "Contacts and Leads",
    }
}

/// A list as a row of the home page.
pub struct ListRow {
    pub id: String,
    pub name: String,
    pub kind: &'static str,
    pub objects: &'static str,
    pub count: String,
    pub owner: String,
    pub updated: String,
}

impl ListRow {
    fn of(list: &RecipientList, owners: &HashMap<UserId, String>) -> Self {
        Self {
            id: list.id.clone(),
            name: list.name.clone(),
            owner: owners.get(&list.owner_id).cloned().unwrap_or_else(|| list.owner_id.to_string()),
            kind: if list.definition == ListDefinition::Static { "Static" } else { "Dynamic" },
            objects: objects_label(&list.objects),
            count: list.last_count.map_or_else(|| "–".to_owned(), |count| count.to_string()),
            updated: date(list.updated_at),
        }
    }
}

/// A static list records can be added to.
pub struct Choice {
    pub id: String,
    pub name: String,
}

/// The form that adds chosen records to a static list, old or new.
pub struct ChooseList {
    /// Where it posts.
    pub action: String,
    /// The one record it adds, when it came from a link.
    pub rid: Option<String>,
    pub choices: Vec<Choice>,
}

/// The record a user came from (`/app?rid=`), to add to a static list.
pub struct RecordPanel {
    pub id: String,
    pub name: String,
    pub object: &'static str,
    pub email: String,
    pub choose: ChooseList,
}

#[derive(Template)]
#[template(path = "index.html")]
struct IndexView {
    page: Page,
    display_name: String,
    org_name: String,
    csrf: String,
    logout_csrf: String,
    record: Option<RecordPanel>,
    /// Why the record cannot be added, when it cannot.
    record_problem: Option<String>,
    lists: Vec<ListRow>,
    last_sync: Option<String>,
}

/// The lists of the org this user may see.
pub(crate) async fn visible_lists(state: &AppState, context: &Context) -> Result<Vec<RecipientList>, AppError> {
    let lists = state.services.store.lists(&context.who.org_id).await.map_err(AppError::store)?;
    Ok(lists.into_iter().filter(|list| context.may_see(list)).collect())
}

/// The display names of the lists' owners (an owner Outpost cannot name shows as their id).
async fn owner_names(state: &AppState, context: &Context, lists: &[RecipientList]) -> HashMap<UserId, String> {
    let owners: HashSet<UserId> = lists.iter().map(|list| list.owner_id).collect();
    let reads = owners.into_iter().map(|owner| async move {
        let mapping = state.services.store.get_user(&context.who.org_id, &owner).await;
        Some((owner, mapping.ok()??.display_name))
    });
    futures::future::join_all(reads).await.into_iter().flatten().collect()
}

/// The static lists of `lists` that can take records of `object`.
pub(crate) fn static_choices(lists: &[RecipientList], object: RecipientObject) -> Vec<Choice> {
    lists
        .iter()
        .filter(|list| list.definition == ListDefinition::Static && list.objects.contains(&object))
        .map(|list| Choice { id: list.id.clone(), name: list.name.clone() })
        .collect()
}

/// `GET /app`: the user's lists, and the record they came from when a Salesforce link named one.
pub async fn index(State(state): State<Arc<AppState>>, visit: Visit, RawQuery(query): RawQuery) -> Response {
    let result = async {
        let context = &visit.context;
        let store = &state.services.store;
        let (mapping, lists, runs) = tokio::join!(
            store.get_user(&context.who.org_id, &context.who.user_id),
            visible_lists(&state, context),
            store.recent_runs(&context.who.org_id, 1),
        );
        let lists = lists?;
        let owners = owner_names(&state, context, &lists).await;
        // A record named by the link is a courtesy: a malformed or repeated `rid` is ignored.
        let rids: Vec<String> = url::form_urlencoded::parse(query.as_deref().unwrap_or_default().as_bytes())
            .filter(|(key, _)| key == "rid")
            .map(|(_, value)| value.into_owned())
            .collect();
        let (record, record_problem) = match rids.as_slice() {
            [rid] => match outpost_shared::ids::RecordId::parse(rid) {
                Ok(id) => crate::selection::record_panel(&state, context, id, &lists).await?,
                Err(_) => (None, None),
            },
            _ => (None, None),
        };
        let last_sync = runs.map_err(AppError::store)?.first().map(|run| {
            let at = run.started_at.iso8601();
            format!(
                "Recipients last synced from Salesforce {} UTC ({:?}).",
                at.get(..16).unwrap_or(&at).replace('T', " "),
                run.status
            )
        });
        let view = IndexView {
            page: Page::new("Recipient lists"),
            display_name: mapping
                .map_err(AppError::store)?
                .map_or_else(|| context.who.user_id.to_string(), |m| m.display_name),
            org_name: context.org.name.clone(),
            csrf: visit.csrf.clone(),
            logout_csrf: visit.signer.csrf_token(LOGOUT_CSRF, &visit.session_hash),
            record,
            record_problem,
            lists: lists.iter().map(|list| ListRow::of(list, &owners)).collect(),
            last_sync,
        };
        Ok(visit.render(StatusCode::OK, &view, &view.page, Scripts::None))
    }
    .await;
    visit.finish(result)
}

/// A field the builder offers.
pub struct FieldOption {
    pub name: String,
    pub label: String,
    pub kind: &'static str,
    pub picklist: Vec<String>,
}

/// An operator the builder offers.
pub struct OpOption {
    pub value: &'static str,
    pub label: &'static str,
    /// The field kinds it applies to, for the script to hide the others.
    pub kinds: String,
}

fn kind_name(kind: FieldKind) -> &'static str {
    match kind {
        FieldKind::Text => "text",
        FieldKind::Boolean => "boolean",
        FieldKind::Date => "date",
        FieldKind::DateTime => "datetime",
        FieldKind::Number => "number",
    }
}

fn field_options(catalog: &Catalog) -> Vec<FieldOption> {
    catalog
        .entries()
        .into_iter()
        .map(|(name, label, kind, picklist)| FieldOption { name, label, kind: kind_name(kind), picklist })
        .collect()
}

fn op_options() -> Vec<OpOption> {
    let kinds = [FieldKind::Text, FieldKind::Boolean, FieldKind::Date, FieldKind::DateTime, FieldKind::Number];
    Op::ALL
        .into_iter()
        .map(|op| {
            let applies: Vec<&str> = kinds.into_iter().filter(|kind| op.applies_to(*kind)).map(kind_name).collect();
            OpOption { value: op.as_str(), label: op.label(), kinds: applies.join(" ") }
        })
        .collect()
}

/// What a list (or a draft) evaluates to, as pages show it.
pub struct Outcome {
    pub count: u64,
    /// (reason, records) for each reason that left records out.
    pub excluded: Vec<(&'static str, u64)>,
    pub sample: Vec<MemberView>,
}

/// Each exclusion reason with its count, in the order they are applied; none left out if zero.
pub(crate) fn exclusion_rows(excluded: &Exclusions) -> Vec<(&'static str, u64)> {
    [
        ("Deleted in Salesforce", excluded.deleted),
        ("Converted leads", excluded.converted),
        ("No email address", excluded.no_email),
        ("Invalid email address", excluded.invalid_email),
        ("Opted out of email", excluded.opted_out),
        ("Email bounced", excluded.bounced),
        ("Same address as another recipient", excluded.duplicate_email),
    ]
    .into_iter()
    .filter(|(_, count)| *count > 0)
    .collect()
}

impl Outcome {
    pub fn of(evaluated: &Evaluated, salesforce: &str) -> Self {
        let rows = first_by_name(evaluated.members(), SAMPLE_ROWS);
        Self {
            count: evaluated.count(),
            excluded: exclusion_rows(&evaluated.excluded()),
            sample: rows.into_iter().map(|recipient| MemberView::of(recipient, salesforce)).collect(),
        }
    }
}

#[derive(Template)]
#[template(path = "list_form.html")]
struct FormView {
    page: Page,
    csrf: String,
    /// Where the form posts.
    action: String,
    /// The list being edited, and its revision.
    editing: Option<(String, String)>,
    form: ListForm,
    fields: Vec<FieldOption>,
    ops: Vec<OpOption>,
    error: Option<AppError>,
    outcome: Option<Outcome>,
}

impl FormView {
    fn has_sample(&self) -> bool {
        self.outcome.as_ref().is_some_and(|outcome| !outcome.sample.is_empty())
    }

    fn has_object(&self, object: &str) -> bool {
        self.form.objects.iter().any(|chosen| chosen == object)
    }

    /// The error of the form field at `path`, if that is where the error is.
    fn error_at(&self, path: &str) -> Option<String> {
        self.error.as_ref().filter(|error| error.path.as_deref() == Some(path)).map(AppError::sentence)
    }

    /// Whether the error belongs to no particular field.
    fn general_error(&self) -> Option<String> {
        let error = self.error.as_ref()?;
        let at_field = error.path.as_deref().is_some_and(|path| path == "name" || path.starts_with("conditions["));
        (!at_field).then(|| error.sentence())
    }

    /// The error of condition row `index` (a template loop hands it over by reference).
    fn row_error(&self, index: &usize) -> Option<String> {
        let prefix = format!("conditions[{index}].");
        self.error
            .as_ref()
            .filter(|error| error.path.as_deref().is_some_and(|path| path.starts_with(&prefix)))
            .map(AppError::sentence)
    }
}

/// The builder's page with `form` filled in.
fn form_page(
    visit: &Visit,
    status: StatusCode,
    form: ListForm,
    editing: Option<&RecipientList>,
    error: Option<AppError>,
    outcome: Option<Outcome>,
) -> Response {
    let (title, action) = match editing {
        Some(list) => (format!("Edit {}", list.name), format!("/app/lists/{}", list.id)),
        None => ("New list".to_owned(), "/app/lists".to_owned()),
    };
    let view = FormView {
        page: Page::new(title),
        csrf: visit.csrf.clone(),
        action,
        // The revision the edit started from, carried through Count and row steps until Save.
        editing: editing.map(|list| (list.id.clone(), form.revision.clone())),
        form,
        fields: field_options(&visit.context.catalog),
        ops: op_options(),
        error,
        outcome,
    };
    visit.render(status, &view, &view.page, Scripts::SameOrigin)
}

/// The form for a saved list.
fn form_of(list: &RecipientList) -> ListForm {
    let (kind, match_, rows) = match &list.definition {
        ListDefinition::Dynamic { match_all, conditions } => {
            ("dynamic", if *match_all { "all" } else { "any" }, conditions.iter().map(FormRow::of).collect())
        }
        ListDefinition::Static => ("static", "all", Vec::new()),
    };
    ListForm {
        name: list.name.clone(),
        kind: kind.into(),
        objects: list.objects.iter().map(|object| object.api_name().to_owned()).collect(),
        match_: match_.into(),
        rows,
        revision: list.revision.clone(),
        ..ListForm::default()
    }
}

/// A blank condition row at the end, so there is always one to fill in.
fn with_blank_row(mut form: ListForm) -> ListForm {
    if form.kind != "static" && form.rows.last().is_none_or(|row| !row.field.is_empty()) {
        form.rows.push(FormRow::default());
    }
    form
}

/// `GET /app/lists/new[?kind=static]`.
pub async fn new_list(visit: Visit, RawQuery(query): RawQuery) -> Response {
    let kind = if query_param(query.as_deref(), "kind").as_deref() == Some("static") { "static" } else { "dynamic" };
    let form = ListForm {
        kind: kind.into(),
        match_: "all".into(),
        objects: RecipientObject::ALL.iter().map(|object| object.api_name().to_owned()).collect(),
        ..ListForm::default()
    };
    form_page(&visit, StatusCode::OK, with_blank_row(form), None, None, None)
}

/// `GET /app/lists/{id}/edit`.
pub async fn edit(State(state): State<Arc<AppState>>, visit: Visit, Path(id): Path<String>) -> Response {
    let result = async {
        let list = state.visible_list(&visit.context, &id).await?;
        Ok(form_page(&visit, StatusCode::OK, with_blank_row(form_of(&list)), Some(&list), None, None))
    }
    .await;
    visit.finish(result)
}

/// What a builder form asked for, besides saving.
enum Step {
    Save,
    /// Count (or re-show) without saving.
    Count,
    AddRow,
    RemoveRow(usize),
}

fn step(action: &str) -> Step {
    match action {
        "save" => Step::Save,
        "add_row" => Step::AddRow,
        other => match other.strip_prefix("remove_").and_then(|index| index.parse().ok()) {
            Some(index) => Step::RemoveRow(index),
            None => Step::Count,
        },
    }
}

/// A posted builder form and its visit, CSRF-checked.
async fn posted_form(visit: &Visit, body: Result<Bytes, BytesRejection>) -> Result<ListForm, AppError> {
    let body = body.map_err(|_| AppError::bad_request("invalid_form", "the form could not be read"))?;
    let form = ListForm::parse(&body)?;
    visit.check_csrf(&form.csrf)?;
    Ok(form)
}

/// Handles a builder form: a step that does not save re-shows the form with the count; a save
/// that fails shows the form with the error where it belongs.
async fn builder(
    state: &AppState,
    visit: &Visit,
    mut form: ListForm,
    editing: Option<&RecipientList>,
) -> Result<Response, AppError> {
    let salesforce = visit.context.salesforce.origin();
    let body = match form.body() {
        Ok(body) => body,
        Err(err) => return Ok(form_page(visit, StatusCode::BAD_REQUEST, form, editing, Some(err.into()), None)),
    };
    let step = step(&form.action);
    let draft = match editing {
        Some(list) => Draft::change(list, body, &visit.context.catalog),
        None => Draft::new(body, &visit.context.catalog, matches!(step, Step::Save)),
    };
    let draft = match draft {
        Ok(draft) => draft,
        Err(err) => {
            let err = form.locate(err);
            return Ok(form_page(visit, StatusCode::BAD_REQUEST, form, editing, Some(err.into()), None));
        }
    };
    match step {
        Step::Save => {
            let saved = match editing {
                Some(list) => state.update_list(&visit.context, list, draft).await?,
                None => state.create_list(&visit.context, draft).await?,
            };
            Ok(see_other(&format!("/app/lists/{}", saved.id)))
        }
        Step::AddRow => {
            // Rows past the most conditions a list takes could never be saved.
            if form.rows.len() < MAX_CONDITIONS {
                form.rows.push(FormRow::default());
            }
            Ok(form_page(visit, StatusCode::OK, form, editing, None, None))
        }
        Step::RemoveRow(index) => {
            if index < form.rows.len() {
                form.rows.remove(index);
            }
            Ok(form_page(visit, StatusCode::OK, with_blank_row(form), editing, None, None))
        }
        Step::Count => {
            let evaluated = state.evaluate_draft(&visit.context, &draft).await?;
            let outcome = Outcome::of(&evaluated, salesforce);
            Ok(form_page(visit, StatusCode::OK, with_blank_row(form), editing, None, Some(outcome)))
        }
    }
}

/// `POST /app/lists`: the builder's form for a new list.
pub async fn create(State(state): State<Arc<AppState>>, visit: Visit, body: Result<Bytes, BytesRejection>) -> Response {
    let result = async {
        let form = posted_form(&visit, body).await?;
        builder(&state, &visit, form, None).await
    }
    .await;
    visit.finish(result)
}

/// `POST /app/lists/{id}`: the builder's form for a saved list.
pub async fn update(
    State(state): State<Arc<AppState>>,
    visit: Visit,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let result = async {
        let form = posted_form(&visit, body).await?;
        let list = state.visible_list(&visit.context, &id).await?;
        // The form was filled in from one revision: saving over a newer one would lose its edit.
        if form.revision != list.revision && matches!(step(&form.action), Step::Save) {
            return Err(AppError::list_changed());
        }
        builder(&state, &visit, form, Some(&list)).await
    }
    .await;
    visit.finish(result)
}

/// `POST /app/lists/preview`: the builder script's live count, as JSON.
pub async fn preview(
    State(state): State<Arc<AppState>>,
    visit: Visit,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let result = async {
        let form = posted_form(&visit, body).await?;
        let draft = Draft::new(form.body()?, &visit.context.catalog, false)?;
        let evaluated = state.evaluate_draft(&visit.context, &draft).await?;
        let outcome = Outcome::of(&evaluated, visit.context.salesforce.origin());
        Ok(axum::Json(crate::api::preview_json(&evaluated, outcome.sample)).into_response())
    }
    .await;
    result.unwrap_or_else(|err: AppError| err.json())
}

/// A saved list's conditions in words.
pub(crate) fn describe(spec: &ConditionSpec, catalog: &Catalog) -> String {
    let label = catalog
        .entries()
        .into_iter()
        .find(|(name, ..)| name.eq_ignore_ascii_case(&spec.field))
        .map_or_else(|| spec.field.clone(), |(_, label, ..)| label);
    let row = FormRow::of(spec);
    match spec.op {
        op if op.is_unary() => format!("{label} {}", op.label()),
        Op::Between => format!("{label} is between {} and {}", row.value, row.value2),
        op => format!("{label} {} {}", op.label(), row.value),
    }
}

#[derive(Template)]
#[template(path = "list_view.html")]
struct ListView {
    page: Page,
    csrf: String,
    list: RecipientList,
    is_static: bool,
    objects: &'static str,
    /// "all" or "any", and each condition in words.
    match_word: &'static str,
    conditions: Vec<String>,
    outcome: Result<Outcome, AppError>,
    updated: String,
}

/// `GET /app/lists/{id}`: a list, its count now, what was left out and a sample of members.
pub async fn view(State(state): State<Arc<AppState>>, visit: Visit, Path(id): Path<String>) -> Response {
    let result = async {
        let context = &visit.context;
        let list = state.visible_list(context, &id).await?;
        let outcome = match state.evaluate_list(context, &list).await {
            Ok(evaluated) => Ok(Outcome::of(&evaluated, context.salesforce.origin())),
            // A list whose conditions no longer fit the org's fields is shown, to be edited.
            Err(err) if err.code == "list_needs_edit" => Err(err),
            Err(err) => return Err(err),
        };
        let (match_word, conditions) = match &list.definition {
            ListDefinition::Dynamic { match_all, conditions } => (
                if *match_all { "all" } else { "any" },
                conditions.iter().map(|spec| describe(spec, &context.catalog)).collect(),
            ),
            ListDefinition::Static => ("all", Vec::new()),
        };
        let view = ListView {
            page: Page::new(list.name.clone()),
            csrf: visit.csrf.clone(),
            is_static: list.definition == ListDefinition::Static,
            objects: objects_label(&list.objects),
            match_word,
            conditions,
            outcome,
            updated: date(list.updated_at),
            list,
        };
        Ok(visit.render(StatusCode::OK, &view, &view.page, Scripts::None))
    }
    .await;
    visit.finish(result)
}

#[derive(Template)]
#[template(path = "members.html")]
struct MembersView {
    page: Page,
    csrf: String,
    list: RecipientList,
    is_static: bool,
    rows: Vec<MemberView>,
    search: String,
    order: &'static str,
    total: usize,
    first: usize,
    previous: Option<String>,
    next: Option<String>,
}

/// `GET /app/lists/{id}/members?q=&order=&page=`: the members, searchable, a page at a time.
pub async fn members(
    State(state): State<Arc<AppState>>,
    visit: Visit,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let result = async {
        let context = &visit.context;
        let list = state.visible_list(context, &id).await?;
        let evaluated = state.evaluate_list(context, &list).await?;
        let search = query_param(query.as_deref(), "q").unwrap_or_default();
        let order = Order::parse(query_param(query.as_deref(), "order").as_deref());
        let page_number: usize =
            query_param(query.as_deref(), "page").and_then(|page| page.parse().ok()).unwrap_or(1).max(1);
        let rows = table(evaluated.members(), &search, order);
        let total = rows.len();
        // A page past the last shows the last (and keeps the arithmetic below in range).
        let page_number = page_number.min(total.div_ceil(PAGE_ROWS).max(1));
        let first = (page_number - 1) * PAGE_ROWS;
        let link = |page: usize| {
            let query: String = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("q", &search)
                .append_pair("order", order.as_str())
                .append_pair("page", &page.to_string())
                .finish();
            format!("/app/lists/{}/members?{query}", list.id)
        };
        let salesforce = context.salesforce.origin();
        let view = MembersView {
            page: Page::new(format!("Members of {}", list.name)),
            csrf: visit.csrf.clone(),
            is_static: list.definition == ListDefinition::Static,
            rows: rows
                .iter()
                .skip(first)
                .take(PAGE_ROWS)
                .map(|recipient| MemberView::of(recipient, salesforce))
                .collect(),
            order: order.as_str(),
            total,
            first: first + 1,
            previous: (page_number > 1).then(|| link(page_number - 1)),
            next: (first + PAGE_ROWS < total).then(|| link(page_number + 1)),
            search,
            list,
        };
        Ok(visit.render(StatusCode::OK, &view, &view.page, Scripts::None))
    }
    .await;
    visit.finish(result)
}

/// `POST /app/lists/{id}/members/remove`: takes the ticked members out of a static list.
pub async fn remove_members(
    State(state): State<Arc<AppState>>,
    visit: Visit,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let result = async {
        let fields = visit.form(body, &[], &["id"])?;
        let list = state.visible_list(&visit.context, &id).await?;
        let ids = fields.get("id").cloned().unwrap_or_default();
        state.remove_members(&visit.context, &list, &ids, PAGE_ROWS).await?;
        Ok(see_other(&format!("/app/lists/{}/members", list.id)))
    }
    .await;
    visit.finish(result)
}

/// `POST /app/lists/{id}/duplicate`: a copy to change without touching the original.
pub async fn duplicate(
    State(state): State<Arc<AppState>>,
    visit: Visit,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let result = async {
        visit.form(body, &[], &[])?;
        let list = state.visible_list(&visit.context, &id).await?;
        let copy = state.duplicate_list(&visit.context, &list).await?;
        Ok(see_other(&format!("/app/lists/{}/edit", copy.id)))
    }
    .await;
    visit.finish(result)
}

#[derive(Template)]
#[template(path = "confirm_delete.html")]
struct DeleteView {
    page: Page,
    csrf: String,
    list: RecipientList,
}

/// `GET /app/lists/{id}/delete`: asks before deleting.
pub async fn confirm_delete(State(state): State<Arc<AppState>>, visit: Visit, Path(id): Path<String>) -> Response {
    let result = async {
        let list = state.visible_list(&visit.context, &id).await?;
        let view = DeleteView { page: Page::new(format!("Delete {}", list.name)), csrf: visit.csrf.clone(), list };
        Ok(visit.render(StatusCode::OK, &view, &view.page, Scripts::None))
    }
    .await;
    visit.finish(result)
}

/// `POST /app/lists/{id}/delete`.
pub async fn delete(
    State(state): State<Arc<AppState>>,
    visit: Visit,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let result = async {
        visit.form(body, &[], &[])?;
        let list = state.visible_list(&visit.context, &id).await?;
        state.delete_list(&visit.context, &list).await?;
        Ok(see_other("/app"))
    }
    .await;
    visit.finish(result)
}

/// `GET /app/static/app.js`: the builder's script, served from Outpost's own origin (the CSP
/// allows no inline script).
pub async fn script() -> Response {
    let mut response = include_str!("../static/app.js").into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/javascript; charset=utf-8"));
    response
}
