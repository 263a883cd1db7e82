//! A list's members as CSV. On AWS the file goes to the exports bucket and the answer redirects to
//! a link valid for five minutes (a function's answer is capped at 6 MB, and 150,000 rows are
//! more); locally it is the answer itself. Cells a spreadsheet would run as a formula are
//! neutralised.

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use outpost_shared::crypto;
use outpost_shared::ids::OrgId;
use outpost_shared::lists::FieldRef;
use outpost_shared::salesforce::SfDateTime;
use outpost_shared::services::{InitError, aws_config};
use outpost_shared::store::RecipientList;

use crate::members::{Evaluated, MemberView, by_name};
use crate::pages::{Visit, see_other};
use crate::{AppError, AppState, Context};

/// How long an export's link works.
const LINK_LIFETIME: Duration = Duration::from_secs(300);

/// An export's media type.
const CSV: &str = "text/csv; charset=utf-8";

/// The columns every export has; the fields a list's conditions name follow them.
const COLUMNS: [&str; 9] = ["Id", "Object", "FirstName", "LastName", "Email", "Title", "Company", "Country", "OwnerId"];

/// Where exports go on AWS: a private bucket whose objects expire after a day.
#[derive(Debug, Clone)]
pub struct Exports {
    s3: aws_sdk_s3::Client,
    bucket: String,
}

impl Exports {
    /// Exports to `bucket`, with the AWS configuration the other clients use (an emulator's
    /// endpoint has no per-bucket host names, so buckets are addressed by path there).
    pub fn connect(bucket: String) -> Result<Self, InitError> {
        let path_style = std::env::var_os("AWS_ENDPOINT_URL").is_some();
        let config = aws_sdk_s3::config::Builder::from(&aws_config()?).force_path_style(path_style).build();
        Ok(Self { s3: aws_sdk_s3::Client::from_conf(config), bucket })
    }

    /// Creates the bucket unless it exists (the local stack on an emulator; template.yaml
    /// creates the real one).
    pub async fn ensure_bucket(&self) -> Result<(), String> {
        if self.s3.head_bucket().bucket(&self.bucket).send().await.is_ok() {
            return Ok(());
        }
        let created = self.s3.create_bucket().bucket(&self.bucket).send().await;
        created.map(drop).map_err(|err| DisplayErrorContext(err).to_string())
    }

    /// Stores the export of `source` (a list or a campaign of `org`; in parts of 8 MB, so memory
    /// stays flat) and returns a short-lived link that downloads it as `file_name`.
    pub(crate) async fn publish(
        &self,
        org: &OrgId,
        source: &str,
        file_name: &str,
        chunks: impl IntoIterator<Item = Result<Bytes, csv::Error>>,
    ) -> Result<String, AppError> {
        let key = format!("exports/{org}/{source}/{}.csv", &crypto::random_token()[..16]);
        let disposition = format!("attachment; filename=\"{file_name}\"");
        let mut upload = Upload { s3: &self.s3, bucket: &self.bucket, key: &key, id: None, parts: Vec::new() };
        let mut buffer = Vec::new();
        for chunk in chunks {
            let chunk = match chunk {
                Ok(chunk) => chunk,
                Err(err) => {
                    upload.give_up().await;
                    return Err(export_failed(&err));
                }
            };
            buffer.extend_from_slice(&chunk);
            if buffer.len() >= PART_BYTES {
                upload.part(std::mem::take(&mut buffer), &disposition).await?;
            }
        }
        upload.finish(buffer, &disposition).await?;
        let presigning = PresigningConfig::expires_in(LINK_LIFETIME).map_err(|err| unavailable(&err))?;
        let link = self
            .s3
            .get_object()
            .bucket(&self.bucket)
            .key(&key)
            .response_content_disposition(disposition)
            .presigned(presigning)
            .await
            .map_err(|err| unavailable(&DisplayErrorContext(err)))?;
        Ok(link.uri().to_owned())
    }
}

/// S3 takes parts of at least 5 MB (but the last).
const PART_BYTES: usize = 8 * 1024 * 1024;

fn unavailable(err: &dyn std::fmt::Display) -> AppError {
    tracing::error!(error = %err, "export could not be stored");
    AppError::new(StatusCode::SERVICE_UNAVAILABLE, "export_unavailable", "the export could not be stored; try again")
}

fn export_failed(err: &csv::Error) -> AppError {
    tracing::error!(error = %err, "export could not be written");
    AppError::new(StatusCode::INTERNAL_SERVER_ERROR, "export_failed", "the export could not be written")
}

/// One export on its way into S3: a single object when small, a multipart upload when not.
struct Upload<'a> {
    s3: &'a aws_sdk_s3::Client,
    bucket: &'a str,
    key: &'a str,
    /// The multipart upload, once one part is full.
    id: Option<String>,
    parts: Vec<CompletedPart>,
}

impl Upload<'_> {
    async fn part(&mut self, bytes: Vec<u8>, disposition: &str) -> Result<(), AppError> {
        let id = match &self.id {
            Some(id) => id.clone(),
            None => {
                let created = self
                    .s3
                    .create_multipart_upload()
                    .bucket(self.bucket)
                    .key(self.key)
                    .content_type(CSV)
                    .content_disposition(disposition)
                    .send()
                    .await
                    .map_err(|err| unavailable(&DisplayErrorContext(err)))?;
                let id = created.upload_id().ok_or_else(|| unavailable(&"S3 named no upload"))?.to_owned();
                self.id = Some(id.clone());
                id
            }
        };
        let number = i32::try_from(self.parts.len() + 1).unwrap_or(i32::MAX);
        let sent = self
            .s3
            .upload_part()
            .bucket(self.bucket)
            .key(self.key)
            .upload_id(&id)
            .part_number(number)
            .body(bytes.into())
            .send()
            .await;
        match sent {
            Ok(part) => {
                self.parts.push(
                    CompletedPart::builder().part_number(number).set_e_tag(part.e_tag().map(str::to_owned)).build(),
                );
                Ok(())
            }
            Err(err) => {
                self.abort(&id).await;
                Err(unavailable(&DisplayErrorContext(err)))
            }
        }
    }

    /// Sends what is left: the whole export as one object, or the last part and the completion.
    async fn finish(mut self, rest: Vec<u8>, disposition: &str) -> Result<(), AppError> {
        if self.id.is_none() {
            let put = self
                .s3
                .put_object()
                .bucket(self.bucket)
                .key(self.key)
                .content_type(CSV)
                .content_disposition(disposition);
            return put.body(rest.into()).send().await.map(drop).map_err(|err| unavailable(&DisplayErrorContext(err)));
        }
        if !rest.is_empty() {
            self.part(rest, disposition).await?;
        }
        let id = self.id.clone().unwrap_or_default();
        let parts = CompletedMultipartUpload::builder().set_parts(Some(std::mem::take(&mut self.parts))).build();
        let completed = self
            .s3
            .complete_multipart_upload()
            .bucket(self.bucket)
            .key(self.key)
            .upload_id(&id)
            .multipart_upload(parts)
            .send()
            .await;
        if let Err(err) = completed {
            self.abort(&id).await;
            return Err(unavailable(&DisplayErrorContext(err)));
        }
        Ok(())
    }

    /// Gives up the upload, if one was started.
    async fn give_up(&self) {
        if let Some(id) = &self.id {
            self.abort(id).await;
        }
    }

    /// Gives up an upload (the bucket's lifecycle rule removes one this misses).
    async fn abort(&self, id: &str) {
        if let Err(err) = self.s3.abort_multipart_upload().bucket(self.bucket).key(self.key).upload_id(id).send().await
        {
            tracing::warn!(error = %DisplayErrorContext(err), "an abandoned export upload stays until the lifecycle rule");
        }
    }
}

/// A cell as written: text a spreadsheet would evaluate (`=`, `+`, `-`, `@`, tab, carriage
/// return first) gets a leading apostrophe, as OWASP advises against CSV injection.
pub(crate) fn cell(text: &str) -> std::borrow::Cow<'_, str> {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{text}").into() } else { text.into() }
}

/// About how much CSV each chunk holds.
const CHUNK_BYTES: usize = 64 * 1024;

/// An export's rows, written a chunk at a time so that no export is ever held whole: the header,
/// then the members ordered by name.
struct Chunks {
    evaluated: Evaluated,
    /// Positions of the members among the snapshot's recipients, in the order written.
    order: Vec<usize>,
    written: usize,
    /// The fields the list's conditions name beyond the standard columns.
    extra: Vec<FieldRef>,
    salesforce: String,
    header: Option<Vec<String>>,
}

impl Chunks {
    fn new(evaluated: Evaluated, salesforce: &str) -> Self {
        let mut extra: Vec<FieldRef> = Vec::new();
        for condition in &evaluated.conditions {
            let name = condition.field.name();
            let known = COLUMNS.iter().any(|column| column.eq_ignore_ascii_case(name))
                || extra.iter().any(|field| field.name().eq_ignore_ascii_case(name));
            if !known {
                extra.push(condition.field.clone());
            }
        }
        let recipients = &evaluated.snapshot.recipients;
        let mut order = evaluated.evaluation.members.clone();
        order.sort_unstable_by(|a, b| by_name(&recipients[*a], &recipients[*b]));
        let header = COLUMNS.iter().copied().chain(extra.iter().map(FieldRef::name)).map(str::to_owned).collect();
        Self { evaluated, order, written: 0, extra, salesforce: salesforce.to_owned(), header: Some(header) }
    }

    /// Writes rows until the buffer holds a chunk; `None` once every row is out.
    fn fill(&mut self) -> Result<Option<Bytes>, csv::Error> {
        let recipients = &self.evaluated.snapshot.recipients;
        let mut writer = csv::Writer::from_writer(Vec::with_capacity(CHUNK_BYTES + CHUNK_BYTES / 4));
        if let Some(header) = self.header.take() {
            writer.write_record(&header)?;
        }
        while self.written < self.order.len() && writer.get_ref().len() < CHUNK_BYTES {
            let recipient = &recipients[self.order[self.written]];
            self.written += 1;
            let member = MemberView::of(recipient, &self.salesforce);
            let known = [
                Some(member.id),
                Some(member.object.to_owned()),
                member.first_name,
                member.last_name,
                member.email,
                member.title,
                member.company,
                member.country,
                member.owner_id,
            ];
            let known = known.into_iter().map(Option::unwrap_or_default);
            let extra = self.extra.iter().map(|field| field.cell(recipient));
            writer.write_record(known.chain(extra).map(|text| cell(&text).into_owned()))?;
        }
        let buffer = writer.into_inner().map_err(|err| csv::Error::from(err.into_error()))?;
        Ok((!buffer.is_empty()).then(|| Bytes::from(buffer)))
    }
}

impl Iterator for Chunks {
    type Item = Result<Bytes, csv::Error>;

    fn next(&mut self) -> Option<Self::Item> {
        self.fill().transpose()
    }
}

/// `outpost-<list name>-<date>.csv`, in characters every browser and OS keep.
fn file_name(list: &RecipientList) -> String {
    let slug: String = list
        .name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' })
        .collect::<String>()
        .split('-')
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join("-");
    let slug = if slug.is_empty() { "list".to_owned() } else { slug.chars().take(60).collect() };
    format!("outpost-{slug}-{}.csv", SfDateTime::now().date())
}

/// The export of list `id`: a redirect to the stored file on AWS, the file itself locally.
async fn export(state: &AppState, context: &Context, id: &str) -> Result<Response, AppError> {
    let list = state.visible_list(context, id).await?;
    let evaluated = state.evaluate_list(context, &list).await?;
    let rows = evaluated.count();
    let chunks = Chunks::new(evaluated, context.salesforce.origin());
    let file_name = file_name(&list);
    tracing::info!(org = %list.org_id, list = %list.id, rows, "list exported");
    match &state.exports {
        Some(exports) => Ok(see_other(&exports.publish(&list.org_id, &list.id, &file_name, chunks).await?)),
        None => {
            let mut response = Body::from_stream(futures::stream::iter(chunks)).into_response();
            let headers = response.headers_mut();
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(CSV));
            if let Ok(disposition) = HeaderValue::from_str(&format!("attachment; filename=\"{file_name}\"")) {
                headers.insert(header::CONTENT_DISPOSITION, disposition);
            }
            Ok(response)
        }
    }
}

/// `GET /app/lists/{id}/export`.
pub async fn page(State(state): State<Arc<AppState>>, visit: Visit, Path(id): Path<String>) -> Response {
    let result = export(&state, &visit.context, &id).await;
    visit.finish(result)
}

/// `GET /api/v1/lists/{id}/export`.
pub async fn api(
    State(state): State<Arc<AppState>>,
    context: Context,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    export(&state, &context, &id).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_neutralised_and_names_made_safe() {
        for formula in ["=HYPERLINK(\"x\")", "+1", "-2", "@SUM(A1)", "\tx", "\rx"] {
            assert_eq!(cell(formula), format!("'{formula}"));
        }
        assert_eq!(cell("Ada"), "Ada");
        assert_eq!(cell(""), "");
        let list = RecipientList {
            org_id: outpost_shared::ids::OrgId::parse("00Dx0000000BV7z").unwrap(),
            id: "abcdefghijklmnop".into(),
            name: " Q3 / EMEA: \"VIPs\" ".into(),
            objects: vec![],
            definition: outpost_shared::store::ListDefinition::Static,
            owner_id: outpost_shared::ids::UserId::parse("005x00000012Q9P").unwrap(),
            created_at: 0,
            updated_at: 0,
            revision: String::new(),
            last_count: None,
            last_evaluated_at: None,
        };
        let name = file_name(&list);
        assert!(name.starts_with("outpost-q3-emea-vips-") && name.ends_with(".csv"), "{name}");
    }
}
