//! The campaign pages at `/app/campaigns`: the org's campaigns, the form that writes one to a
//! list, and a campaign's page with its status, totals, a preview rendered for a member, a test
//! send, the buttons that send, pause, resume or cancel it, and its recipients. Every form carries
//! the session's CSRF token and works without a script; the actions go through the same
//! [`AppState`] methods as the JSON API.

use std::collections::HashMap;
use std::sync::Arc;

use askama::Template;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use outpost_shared::campaigns::{Campaign, CampaignStatus, CampaignTemplates, Counts, Delivery, PauseReason, Rendered};
use outpost_shared::ids::RecordId;
use outpost_shared::store::{EpochSeconds, OrgSettings, Recipient, RecipientList, now_epoch};
use outpost_shared::web::{Framing, Page, Scripts};

use crate::api::instant;
use crate::campaigns::{CampaignBody, first_recipients, search};
use crate::members::{MemberView, first_by_name};
use crate::pages::{Choice, Visit, field, query_param, see_other};
use crate::{AppError, AppState, Context};

/// Recipients shown on a campaign's page; the CSV has them all.
const SHOWN_RECIPIENTS: usize = 100;
/// Members offered to render the preview for.
const PREVIEW_CHOICES: usize = 20;
/// Where the preview's unsubscribe link points: nowhere a click could unsubscribe anyone.
const PREVIEW_UNSUBSCRIBE_URL: &str = "#unsubscribe-preview";
/// The fields of the campaign form, named as [`AppError::path`] names them.
const CAMPAIGN_FIELDS: [&str; 6] = ["list_id", "subject", "from", "reply_to", "html", "text"];
/// The fields of the test-send form.
const TEST_FIELDS: [&str; 2] = ["to", "record_id"];

/// A new campaign's HTML body, to be written over.
const STARTER_HTML: &str = "<html>\n<body>\n<p>Hello {{FirstName|there}},</p>\n<p>Write your message here.</p>\n\
<p><a href=\"{{unsubscribe_url}}\">Unsubscribe</a></p>\n</body>\n</html>\n";
/// A new campaign's text body, to be written over.
const STARTER_TEXT: &str =
    "Hello {{FirstName|there}},\n\nWrite your message here.\n\nUnsubscribe: {{unsubscribe_url}}\n";

/// What a recipient's status (`Delivery::status`) is called on the page, in the search's order.
const RECIPIENT_STATUSES: [(&str, &str); 11] = [
    ("queued", "Queued"),
    ("claimed", "Being sent"),
    ("sent", "Sent"),
    ("delivered", "Delivered"),
    ("bounced", "Bounced"),
    ("bounced_transient", "Bounced (transient)"),
    ("complained", "Complained"),
    ("unsubscribed", "Unsubscribed"),
    ("failed", "Failed"),
    ("unknown", "Unknown"),
    ("skipped", "Skipped"),
];

fn status_label(status: CampaignStatus) -> &'static str {
    match status {
        CampaignStatus::Draft => "Draft",
        CampaignStatus::Sending => "Sending",
        CampaignStatus::Paused => "Paused",
        CampaignStatus::Sent => "Sent",
        CampaignStatus::Cancelled => "Cancelled",
    }
}

/// Why a campaign is paused, in a few words for the campaigns table.
fn pause_brief(reason: PauseReason) -> &'static str {
    match reason {
        PauseReason::Requested => "by a user",
        PauseReason::Quota => "sending quota spent",
        PauseReason::SendingDisabled => "SES refuses to send",
        PauseReason::ListNeedsEdit => "the list needs an edit",
    }
}

/// Why a campaign is paused, and what happens next, in plain words.
fn pause_sentence(reason: PauseReason) -> &'static str {
    match reason {
        PauseReason::Requested => "Paused by a user: nothing more goes out until someone resumes it.",
        PauseReason::Quota => {
            "Paused: the SES account's 24-hour sending quota is spent; it resumes by itself when quota is back."
        }
        PauseReason::SendingDisabled => {
            "Paused: Amazon SES refuses to send for this account (sending paused or the account suspended); \
             resume once the account can send again."
        }
        PauseReason::ListNeedsEdit => {
            "Paused: the list's conditions name a field the org no longer syncs; edit the list, then resume."
        }
    }
}

/// A campaign's status with its pause reason, for the campaigns table.
fn status_words(campaign: &Campaign) -> String {
    match campaign.pause_reason.filter(|_| campaign.status == CampaignStatus::Paused) {
        Some(reason) => format!("Paused ({})", pause_brief(reason)),
        None => status_label(campaign.status).to_owned(),
    }
}

/// `YYYY-MM-DD HH:MM UTC`.
fn moment(at: EpochSeconds) -> String {
    let iso = instant(at);
    format!("{} UTC", iso.get(..16).unwrap_or(&iso).replace('T', " "))
}

/// The page of a campaign.
fn campaign_path(id: &str) -> String {
    format!("/app/campaigns/{id}")
}

/// The lists of the org this user may see, by name.
async fn visible_lists(state: &AppState, context: &Context) -> Result<Vec<RecipientList>, AppError> {
    let mut visible = crate::pages::visible_lists(state, context).await?;
    visible.sort_by_cached_key(|list| list.name.to_lowercase());
    Ok(visible)
}

// --- The campaigns --------------------------------------------------------------------------

/// A campaign as a row of the campaigns table.
pub struct CampaignRow {
    pub id: String,
    pub subject: String,
    pub list_name: String,
    pub status: &'static str,
    pub status_words: String,
    pub sent: u64,
    pub recipients: u64,
    pub created: String,
}

#[derive(Template)]
#[template(path = "campaign_list.html")]
struct CampaignListView {
    page: Page,
    rows: Vec<CampaignRow>,
}

/// `GET /app/campaigns`: the org's campaigns this user may see, newest first.
pub async fn index(State(state): State<Arc<AppState>>, visit: Visit) -> Response {
    let result = async {
        let context = &visit.context;
        let mut campaigns = state.services.store.campaigns(&context.who.org_id).await.map_err(AppError::store)?;
        campaigns.retain(|campaign| context.owner().is_none_or(|owner| campaign.owner_id.as_str() == owner));
        campaigns.sort_by(|a, b| b.created_at.cmp(&a.created_at).then_with(|| b.id.cmp(&a.id)));
        let counts = futures::future::join_all(campaigns.iter().map(|campaign| state.counts(campaign))).await;
        let rows = campaigns
            .iter()
            .zip(counts)
            .map(|(campaign, counts)| {
                let counts = counts?;
                Ok(CampaignRow {
                    id: campaign.id.clone(),
                    subject: campaign.subject.clone(),
                    list_name: campaign.list_name.clone(),
                    status: campaign.status.as_str(),
                    status_words: status_words(campaign),
                    sent: counts.sent,
                    recipients: counts.recipients,
                    created: moment(campaign.created_at),
                })
            })
            .collect::<Result<Vec<_>, AppError>>()?;
        let view = CampaignListView { page: Page::new("Campaigns"), rows };
        Ok(visit.render(StatusCode::OK, &view, &view.page, Scripts::None))
    }
    .await;
    visit.finish(result)
}

// --- Writing one ----------------------------------------------------------------------------

/// The campaign form's values, as typed.
#[derive(Debug, Clone, Default)]
pub struct CampaignForm {
    pub list_id: String,
    pub subject: String,
    pub from: String,
    pub reply_to: String,
    pub html: String,
    pub text: String,
}

impl CampaignForm {
    /// A posted form's values.
    fn of(fields: &HashMap<String, Vec<String>>) -> Self {
        Self {
            list_id: field(fields, "list_id"),
            subject: field(fields, "subject"),
            from: field(fields, "from"),
            reply_to: field(fields, "reply_to"),
            html: field(fields, "html"),
            text: field(fields, "text"),
        }
    }

    /// The campaign the form asks for, as the API takes it.
    fn body(&self) -> CampaignBody {
        CampaignBody {
            list_id: self.list_id.clone(),
            subject: self.subject.clone(),
            from: self.from.clone(),
            reply_to: Some(self.reply_to.clone()),
            html: self.html.clone(),
            text: self.text.clone(),
        }
    }
}

/// The addresses a campaign may be sent from, as the org's settings allow them.
pub struct Senders {
    /// Whole addresses.
    pub addresses: Vec<String>,
    /// Domains any address of which may send (`@acme.example` in the settings).
    pub domains: Vec<String>,
}

impl Senders {
    fn of(settings: &OrgSettings) -> Self {
        let entries = settings.allowed_senders.iter().map(|entry| entry.trim()).filter(|entry| !entry.is_empty());
        let (domains, addresses): (Vec<&str>, Vec<&str>) = entries.partition(|entry| entry.starts_with('@'));
        Self {
            addresses: addresses.into_iter().map(str::to_owned).collect(),
            domains: domains.into_iter().map(|domain| domain.trim_start_matches('@').to_owned()).collect(),
        }
    }

    /// Whether the org names only whole addresses, so a select can offer every one.
    pub fn is_fixed(&self) -> bool {
        self.domains.is_empty() && !self.addresses.is_empty()
    }

    /// The allowed senders in words, for the hint beside a free text field.
    pub fn hint(&self) -> String {
        let domains = self.domains.iter().map(|domain| format!("any address at {domain}"));
        let allowed: Vec<String> = domains.chain(self.addresses.iter().cloned()).collect();
        if allowed.is_empty() {
            "The org's registration allows no sender yet: ask its Outpost administrator to add one.".to_owned()
        } else {
            format!("Allowed: {}.", allowed.join(", "))
        }
    }

    /// A sender to start the form with: the only address there is, or the user's own when allowed.
    fn default_for(&self, settings: &OrgSettings, own: Option<&str>) -> String {
        if self.is_fixed() {
            return self.addresses.first().cloned().unwrap_or_default();
        }
        own.filter(|own| settings.allows_sender(own)).map(str::to_owned).unwrap_or_default()
    }
}

#[derive(Template)]
#[template(path = "campaign_form.html")]
struct CampaignFormView {
    page: Page,
    csrf: String,
    form: CampaignForm,
    lists: Vec<Choice>,
    senders: Senders,
    error: Option<AppError>,
}

impl CampaignFormView {
    /// The error of the form field `name`, if that is where the error is.
    fn error_at(&self, name: &str) -> Option<String> {
        self.error.as_ref().filter(|error| error.path.as_deref() == Some(name)).map(AppError::sentence)
    }

    /// The error, when it belongs to no field of the form.
    fn general_error(&self) -> Option<String> {
        let error = self.error.as_ref()?;
        let at_field = error.path.as_deref().is_some_and(|path| CAMPAIGN_FIELDS.contains(&path));
        (!at_field).then(|| error.sentence())
    }
}

/// The campaign form filled in with `form`, `error` beside the field it names.
async fn form_page(
    state: &AppState,
    visit: &Visit,
    status: StatusCode,
    form: CampaignForm,
    error: Option<AppError>,
) -> Result<Response, AppError> {
    let lists = visible_lists(state, &visit.context).await?;
    let view = CampaignFormView {
        page: Page::new("New campaign"),
        csrf: visit.csrf.clone(),
        form,
        lists: lists.into_iter().map(|list| Choice { id: list.id, name: list.name }).collect(),
        senders: Senders::of(&visit.context.org.settings),
        error,
    };
    Ok(visit.render(status, &view, &view.page, Scripts::None))
}

/// `GET /app/campaigns/new?list=<id>`: the form, with starter bodies and the list preselected.
pub async fn new_campaign(State(state): State<Arc<AppState>>, visit: Visit, RawQuery(query): RawQuery) -> Response {
    let result = async {
        let context = &visit.context;
        let mapping = state.services.store.get_user(&context.who.org_id, &context.who.user_id).await;
        let own = mapping.map_err(AppError::store)?.map(|mapping| mapping.reply_to);
        let settings = &context.org.settings;
        let form = CampaignForm {
            list_id: query_param(query.as_deref(), "list").unwrap_or_default(),
            from: Senders::of(settings).default_for(settings, own.as_deref()),
            reply_to: own.unwrap_or_default(),
            html: STARTER_HTML.to_owned(),
            text: STARTER_TEXT.to_owned(),
            ..CampaignForm::default()
        };
        form_page(&state, &visit, StatusCode::OK, form, None).await
    }
    .await;
    visit.finish(result)
}

/// `POST /app/campaigns`: saves the draft and shows it; a refusal shows the form again, as typed.
pub async fn create(State(state): State<Arc<AppState>>, visit: Visit, body: Result<Bytes, BytesRejection>) -> Response {
    let result = async {
        let fields = visit.form(body, &CAMPAIGN_FIELDS, &[])?;
        let form = CampaignForm::of(&fields);
        match state.create_campaign(&visit.context, form.body()).await {
            Ok(campaign) => Ok(see_other(&campaign_path(&campaign.id))),
            Err(err) => form_page(&state, &visit, err.status, form, Some(err)).await,
        }
    }
    .await;
    visit.finish(result)
}

// --- A campaign -----------------------------------------------------------------------------

/// What a campaign page's buttons ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Send,
    Pause,
    Resume,
    Cancel,
    Test,
}

impl Action {
    fn parse(name: &str) -> Option<Self> {
        match name {
            "send" => Some(Action::Send),
            "pause" => Some(Action::Pause),
            "resume" => Some(Action::Resume),
            "cancel" => Some(Action::Cancel),
            "test" => Some(Action::Test),
            _ => None,
        }
    }

    /// The `?done=` the campaign page is shown with afterwards.
    fn done(self) -> &'static str {
        match self {
            Action::Send => "sent",
            Action::Pause => "paused",
            Action::Resume => "resumed",
            Action::Cancel => "cancelled",
            Action::Test => "test",
        }
    }
}

/// The sentence a `?done=` stands for: fixed texts only, so nothing typed into an address is
/// ever shown.
fn done_notice(done: Option<&str>) -> Option<&'static str> {
    match done? {
        "sent" => Some("Sending started. The totals grow as messages go out: reload to see them."),
        "paused" => Some("Paused: no more messages go out until you resume."),
        "resumed" => Some("Resumed: sending goes on where it stopped."),
        "cancelled" => Some("Cancelled: messages already sent stay sent, and no more go out."),
        "test" => Some("A test message is on its way, marked [Test] in its subject."),
        _ => None,
    }
}

/// A button of the campaign page: a form posting to `/app/campaigns/{id}/{action}`.
pub struct Button {
    pub action: &'static str,
    pub label: &'static str,
    pub class: &'static str,
}

/// The buttons a campaign in `status` offers.
fn buttons(status: CampaignStatus) -> Vec<Button> {
    let send = Button { action: "send", label: "Send to the list", class: "" };
    let pause = Button { action: "pause", label: "Pause", class: "secondary" };
    let resume = Button { action: "resume", label: "Resume", class: "" };
    let cancel = Button { action: "cancel", label: "Cancel campaign", class: "danger" };
    match status {
        CampaignStatus::Draft => vec![send, cancel],
        CampaignStatus::Sending => vec![pause, cancel],
        CampaignStatus::Paused => vec![resume, cancel],
        CampaignStatus::Sent | CampaignStatus::Cancelled => Vec::new(),
    }
}

/// A member the preview can be rendered for.
pub struct MemberChoice {
    pub id: String,
    pub label: String,
}

impl MemberChoice {
    fn of(recipient: &Recipient) -> Self {
        let member = MemberView::of(recipient, "");
        let email = member.email.clone().unwrap_or_default();
        let name = member.name();
        let label = if name.is_empty() { email } else { format!("{name} <{email}>") };
        Self { id: member.id, label }
    }
}

/// The campaign as one member would get it.
pub struct Preview {
    /// Members to render it for instead.
    pub choices: Vec<MemberChoice>,
    /// The member it is rendered for.
    pub member: Option<String>,
    /// Why the member asked for is not the one shown.
    pub note: Option<&'static str>,
    /// The message, or why there is none to show.
    pub message: Result<Rendered, String>,
}

impl Preview {
    fn unavailable(why: String) -> Self {
        Self { choices: Vec::new(), member: None, note: None, message: Err(why) }
    }
}

/// Renders `campaign` for the list member `asked` for (by record id), or else the first member by
/// name; a list that cannot be evaluated, or has no member, leaves nothing to render.
async fn preview(state: &AppState, context: &Context, campaign: &Campaign, asked: Option<&str>) -> Preview {
    let settings = &context.org.settings;
    let content = match state.services.store.campaign_content(&campaign.org_id, &campaign.id).await {
        Ok(Some(content)) => content,
        Ok(None) => return Preview::unavailable("This campaign's bodies are missing.".to_owned()),
        Err(err) => return Preview::unavailable(AppError::store(err).sentence()),
    };
    let templates =
        match CampaignTemplates::compile(&campaign.subject, &content.html, &content.text, &settings.postal_address) {
            Ok(templates) => templates,
            Err(err) => return Preview::unavailable(crate::error::sentence(&err.message)),
        };
    let list = match state.visible_list(context, &campaign.list_id).await {
        Ok(list) => list,
        Err(err) if err.code == "list_not_found" => {
            return Preview::unavailable(format!(
                "The list {} no longer exists, so there is no member to preview the campaign for.",
                campaign.list_name
            ));
        }
        Err(err) => return Preview::unavailable(err.sentence()),
    };
    let evaluated = match state.evaluate_list(context, &list).await {
        Ok(evaluated) => evaluated,
        Err(err) => return Preview::unavailable(err.sentence()),
    };
    let first = first_by_name(evaluated.members(), PREVIEW_CHOICES);
    let asked = asked.map(str::trim).filter(|asked| !asked.is_empty());
    let wanted = asked.and_then(|asked| RecordId::parse(asked).ok());
    let found = wanted.and_then(|wanted| evaluated.members().find(|member| member.id == wanted));
    let note = (asked.is_some() && found.is_none())
        .then_some("That record is not a member of the list: the preview shows the first member instead.");
    let Some(member) = found.or_else(|| first.first().copied()) else {
        return Preview::unavailable(format!("The list {} has no members to preview the campaign for.", list.name));
    };
    let mut choices: Vec<MemberChoice> = first.iter().map(|recipient| MemberChoice::of(recipient)).collect();
    if !first.iter().any(|recipient| recipient.id == member.id) {
        choices.insert(0, MemberChoice::of(member));
    }
    let delivery = Delivery::queued(member, member.email.as_deref().unwrap_or_default(), now_epoch());
    let message =
        templates.render(&delivery, PREVIEW_UNSUBSCRIBE_URL).map_err(|err| crate::error::sentence(&err.message));
    Preview { choices, member: Some(member.id.to_string()), note, message }
}

/// A recipient as a row of the campaign page.
pub struct RecipientRow {
    pub email: String,
    pub name: String,
    pub status: &'static str,
    pub detail: String,
}

impl RecipientRow {
    fn of(delivery: &Delivery) -> Self {
        let status = delivery.status();
        let name = [delivery.first_name.as_deref(), delivery.last_name.as_deref()];
        Self {
            email: delivery.email.clone(),
            name: name.into_iter().flatten().collect::<Vec<_>>().join(" "),
            status: RECIPIENT_STATUSES.iter().find(|(value, _)| *value == status).map_or(status, |(_, label)| *label),
            detail: delivery.detail.clone().unwrap_or_default(),
        }
    }
}

/// The recipients section: what was searched for and what was found.
pub struct Recipients {
    pub q: String,
    /// One of [`RECIPIENT_STATUSES`], or empty for any.
    pub status: String,
    pub rows: Vec<RecipientRow>,
    pub total: usize,
}

/// What a campaign page shows besides the campaign: a notice after a form, or the refusal of one
/// with what its test form held.
#[derive(Default)]
struct Shown {
    notice: Option<&'static str>,
    error: Option<AppError>,
    test_to: String,
    test_record: String,
}

#[derive(Template)]
#[template(path = "campaign_view.html")]
struct CampaignView {
    page: Page,
    csrf: String,
    campaign: Campaign,
    status_label: &'static str,
    pause: Option<&'static str>,
    counts: Counts,
    buttons: Vec<Button>,
    preview: Preview,
    recipients: Recipients,
    statuses: [(&'static str, &'static str); 11],
    created: String,
    started: Option<String>,
    finished: Option<String>,
    shown: Shown,
}

impl CampaignView {
    /// The error of the test form's field `name`, if that is where the error is.
    fn error_at(&self, name: &str) -> Option<String> {
        self.shown.error.as_ref().filter(|error| error.path.as_deref() == Some(name)).map(AppError::sentence)
    }

    /// The error, when it belongs to no field of the test form.
    fn general_error(&self) -> Option<String> {
        let error = self.shown.error.as_ref()?;
        let at_field = error.path.as_deref().is_some_and(|path| TEST_FIELDS.contains(&path));
        (!at_field).then(|| error.sentence())
    }

    /// Whether the preview is rendered for member `id`.
    fn is_previewed(&self, id: &str) -> bool {
        self.preview.member.as_deref() == Some(id)
    }
}

/// The page of campaign `id`, its preview and recipient search as `query` asks.
async fn campaign_page(
    state: &AppState,
    visit: &Visit,
    id: &str,
    query: Option<&str>,
    status: StatusCode,
    shown: Shown,
) -> Result<Response, AppError> {
    let context = &visit.context;
    let campaign = state.visible_campaign(context, id).await?;
    let q = query_param(query, "q").unwrap_or_default();
    let wanted = query_param(query, "status").unwrap_or_default();
    let wanted = if RECIPIENT_STATUSES.iter().any(|(value, _)| *value == wanted) { wanted } else { String::new() };
    let filter = Some(wanted.as_str()).filter(|status| !status.is_empty());
    let asked = query_param(query, "preview");
    let browsing = q.trim().is_empty() && filter.is_none();
    let (counts, preview, found) =
        tokio::join!(state.counts(&campaign), preview(state, context, &campaign, asked.as_deref()), async {
            // A draft has no recipients yet: they are written down when sending starts.
            if campaign.status == CampaignStatus::Draft {
                return Ok(Vec::new());
            }
            // Without a search, the first rows: a large campaign is not read whole for a page view.
            if browsing {
                return first_recipients(state, &campaign, SHOWN_RECIPIENTS).await;
            }
            search(state, &campaign, Some(q.as_str()), filter).await
        },);
    let found = found?;
    let view = CampaignView {
        page: Page::new(campaign.subject.clone()),
        csrf: visit.csrf.clone(),
        status_label: status_label(campaign.status),
        pause: campaign.pause_reason.filter(|_| campaign.status == CampaignStatus::Paused).map(pause_sentence),
        counts: counts?,
        buttons: buttons(campaign.status),
        preview,
        recipients: Recipients {
            rows: found.iter().take(SHOWN_RECIPIENTS).map(RecipientRow::of).collect(),
            // Unsearched, only the first rows were read: the total is the campaign's.
            total: if browsing { usize::try_from(campaign.recipients).unwrap_or(usize::MAX) } else { found.len() },
            q,
            status: wanted,
        },
        statuses: RECIPIENT_STATUSES,
        created: moment(campaign.created_at),
        started: campaign.started_at.map(moment),
        finished: campaign.finished_at.map(moment),
        shown,
        campaign,
    };
    Ok(visit.render(status, &view, &view.page, Scripts::None))
}

/// `GET /app/campaigns/{id}[?preview=&q=&status=&done=]`.
pub async fn view(
    State(state): State<Arc<AppState>>,
    visit: Visit,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let query = query.as_deref();
    let shown = Shown { notice: done_notice(query_param(query, "done").as_deref()), ..Shown::default() };
    let result = campaign_page(&state, &visit, &id, query, StatusCode::OK, shown).await;
    frames_its_preview(visit.finish(result))
}

/// `POST /app/campaigns/{id}/{send|pause|resume|cancel|test}`: does it and shows the campaign
/// with a notice; a refusal shows the campaign with the reason.
pub async fn act(
    State(state): State<Arc<AppState>>,
    visit: Visit,
    Path((id, action)): Path<(String, String)>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let result = async {
        let action = Action::parse(&action)
            .ok_or_else(|| AppError::new(StatusCode::NOT_FOUND, "not_found", "no such action"))?;
        let single: &[&str] = if action == Action::Test { &TEST_FIELDS } else { &[] };
        let fields = visit.form(body, single, &[])?;
        let context = &visit.context;
        let (to, record) = (field(&fields, "to"), field(&fields, "record_id"));
        let done = match action {
            Action::Send => state.send_campaign(context, &id).await.map(drop),
            Action::Pause => state.pause_campaign(context, &id).await.map(drop),
            Action::Resume => state.resume_campaign(context, &id).await.map(drop),
            Action::Cancel => state.cancel_campaign(context, &id).await.map(drop),
            Action::Test => state.test_campaign(context, &id, &to, Some(&record)).await,
        };
        match done {
            // Each method found the campaign first, so `id` names one.
            Ok(()) => Ok(see_other(&format!("{}?done={}", campaign_path(&id), action.done()))),
            Err(err) => {
                let shown = Shown { error: Some(err.clone()), test_to: to, test_record: record, ..Shown::default() };
                campaign_page(&state, &visit, &id, None, err.status, shown).await
            }
        }
    }
    .await;
    frames_its_preview(visit.finish(result))
}

/// What the preview document may load: the message's own styles and its images, nothing that
/// runs; `sandbox` gives it an origin of its own. It is framed by the campaign page, itself framed
/// by the org's Salesforce.
fn preview_csp(framing: &Framing) -> String {
    format!(
        "default-src 'none'; style-src 'unsafe-inline'; img-src https: data:; frame-ancestors 'self' {}; sandbox",
        framing.sources()
    )
}

/// `GET /app/campaigns/{id}/preview.html[?preview=<record>]`: the HTML body as the member gets it,
/// a document of its own so the message's styles apply, framed by the campaign page.
pub async fn preview_document(
    State(state): State<Arc<AppState>>,
    visit: Visit,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let result = async {
        let campaign = state.visible_campaign(&visit.context, &id).await?;
        let asked = query_param(query.as_deref(), "preview");
        let shown = preview(&state, &visit.context, &campaign, asked.as_deref()).await;
        // Why there is nothing to show is plain text: it may name the list.
        let (body, kind) = match shown.message {
            Ok(message) => (message.html, "text/html; charset=utf-8"),
            Err(why) => (why, "text/plain; charset=utf-8"),
        };
        let mut response = body.into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
        if let Ok(csp) = HeaderValue::from_str(&preview_csp(&visit.framing)) {
            headers.insert(header::CONTENT_SECURITY_POLICY, csp);
        }
        Ok(response)
    }
    .await;
    visit.finish(result)
}

/// The campaign page frames its own preview document.
fn frames_its_preview(mut response: Response) -> Response {
    let csp = response.headers().get(header::CONTENT_SECURITY_POLICY).and_then(|csp| csp.to_str().ok());
    if let Some(framed) = csp.and_then(|csp| HeaderValue::from_str(&format!("{csp}; frame-src 'self'")).ok()) {
        response.headers_mut().insert(header::CONTENT_SECURITY_POLICY, framed);
    }
    response
}

/// `GET /app/campaigns/{id}/results.csv`: every recipient and what became of them.
pub async fn results(State(state): State<Arc<AppState>>, visit: Visit, Path(id): Path<String>) -> Response {
    let result = async {
        let campaign = state.visible_campaign(&visit.context, &id).await?;
        crate::campaigns::results(&state, &campaign).await
    }
    .await;
    visit.finish(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_done_notice_is_one_of_the_fixed_sentences_and_never_the_query() {
        assert!(done_notice(Some("sent")).is_some_and(|notice| notice.starts_with("Sending started")));
        assert_eq!(done_notice(Some("<script>alert(1)</script>")), None);
        assert_eq!(done_notice(None), None);
        for action in ["send", "pause", "resume", "cancel", "test"] {
            let action = Action::parse(action).unwrap();
            assert!(done_notice(Some(action.done())).is_some(), "{action:?} has its notice");
        }
    }

    #[test]
    fn senders_are_a_select_only_when_every_one_is_an_address() {
        let settings = |senders: &[&str]| OrgSettings {
            allowed_senders: senders.iter().map(|sender| (*sender).to_owned()).collect(),
            ..OrgSettings::default()
        };
        let fixed = settings(&["news@acme.example", " team@acme.example "]);
        let senders = Senders::of(&fixed);
        assert!(senders.is_fixed());
        assert_eq!(senders.default_for(&fixed, Some("ada@acme.example")), "news@acme.example");
        let open = settings(&["@acme.example", "ceo@globex.example"]);
        let senders = Senders::of(&open);
        assert!(!senders.is_fixed());
        assert_eq!(senders.hint(), "Allowed: any address at acme.example, ceo@globex.example.");
        assert_eq!(senders.default_for(&open, Some("ada@acme.example")), "ada@acme.example");
        assert_eq!(senders.default_for(&open, Some("ada@elsewhere.example")), "");
        assert!(Senders::of(&settings(&[])).hint().contains("allows no sender"));
    }

    #[test]
    fn buttons_follow_the_status_and_pauses_are_explained() {
        let actions = |status| buttons(status).iter().map(|button| button.action).collect::<Vec<_>>();
        assert_eq!(actions(CampaignStatus::Draft), ["send", "cancel"]);
        assert_eq!(actions(CampaignStatus::Sending), ["pause", "cancel"]);
        assert_eq!(actions(CampaignStatus::Paused), ["resume", "cancel"]);
        assert!(actions(CampaignStatus::Sent).is_empty() && actions(CampaignStatus::Cancelled).is_empty());
        assert_eq!(
            pause_sentence(PauseReason::Quota),
            "Paused: the SES account's 24-hour sending quota is spent; it resumes by itself when quota is back."
        );
    }
}
