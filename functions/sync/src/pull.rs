//! The REST pull of one object's changes past its cursor. A fetch task runs a page ahead: it reads
//! each page's header and asks for the next page while this one is parsed and stored. Once the
//! last page of an object has arrived, the next object's query starts, so its first page comes
//! while this one's last is stored.

use outpost_shared::ids::RecipientObject;
use outpost_shared::salesforce::{FetchedPage, OrgConnection, QueryOptions};
use outpost_shared::store::SyncCheckpoint;
use tokio::sync::mpsc;
use tracing::Instrument;

use crate::run::{Interrupt, Limits, Run};

/// An object's query under way: its pages, fetched a page ahead by a task that stops when this is
/// dropped.
pub(crate) struct Query {
    pub(crate) object: RecipientObject,
    /// The checkpoint it started from.
    pub(crate) checkpoint: SyncCheckpoint,
    pages: mpsc::Receiver<Result<FetchedPage, Interrupt>>,
    _fetcher: tokio::task::JoinSet<()>,
}

impl Run<'_> {
    /// Pulls `object`'s changes past the checkpoint with `query` (started earlier) or a new one.
    /// A first load over the Bulk threshold goes through Bulk API 2.0 instead.
    pub(crate) async fn pull(
        &mut self,
        object: RecipientObject,
        checkpoint: &mut SyncCheckpoint,
        query: Option<Query>,
    ) -> Result<(), Interrupt> {
        let first_sync = checkpoint.cursor.is_none();
        // A query started earlier serves only while the checkpoint is where it started.
        let mut query = match query {
            Some(query) if query.checkpoint.cursor == checkpoint.cursor => query,
            _ => self.open_query(object, checkpoint.clone()),
        };
        let mut next = query.pages.recv().await;
        if first_sync
            && let Some(Ok(first)) = &next
            && first.header.total_size > self.ctx.settings.bulk_threshold
        {
            tracing::info!(
                object = object.api_name(),
                total = first.header.total_size,
                "large first load: Bulk API 2.0"
            );
            drop(query);
            self.start_bulk(object, checkpoint).await?;
            self.read_bulk(object, checkpoint).await?;
            return Box::pin(self.pull(object, checkpoint, None)).await;
        }
        while let Some(page) = next {
            let page = page?;
            if page.header.next().ok().flatten().is_none() {
                // The last page: the next object's pages start coming while this one is stored.
                self.next_query = self.open_next_query(object).await;
            }
            // An empty page (a query with no rows) has nothing to write and no cursor to move.
            if page.header.has_records {
                let (recipients, cursor) = self.selected(object).recipients(page.records()?)?;
                self.save_page(object, recipients, cursor, checkpoint).await?;
            }
            next = query.pages.recv().await;
        }
        Ok(())
    }

    /// Starts fetching `object`'s changes after `checkpoint`'s cursor.
    pub(crate) fn open_query(&self, object: RecipientObject, checkpoint: SyncCheckpoint) -> Query {
        let options = QueryOptions { include_deleted: true, batch_size: Some(self.ctx.settings.page_size) };
        // A first load over the threshold goes to Bulk API 2.0: its first page is all it needs.
        let bulk_threshold = checkpoint.cursor.is_none().then_some(self.ctx.settings.bulk_threshold);
        let soql = self.selected(object).changes_after(checkpoint.cursor.as_ref());
        let (sender, pages) = mpsc::channel(1);
        let mut fetcher = tokio::task::JoinSet::new();
        let fetch = fetch_pages(self.conn.clone(), options, self.fetch_limits(), soql, bulk_threshold, sender);
        fetcher.spawn(fetch.in_current_span());
        Query { object, checkpoint, pages, _fetcher: fetcher }
    }

    /// The query of the object after `object`, started now, unless its checkpoint holds a Bulk
    /// job (which moves its cursor first), must start over for new fields, or cannot be read
    /// (its own turn will say why).
    async fn open_next_query(&self, object: RecipientObject) -> Option<Query> {
        let next = RecipientObject::ALL.into_iter().skip_while(|each| *each != object).nth(1)?;
        if self.unread.contains(&next) {
            return None;
        }
        let checkpoint = self.ctx.services.store.get_checkpoint(&self.org.org_id, next).await.ok()?;
        let rereads = self.selected(next).needs_reread(checkpoint.fields.as_deref());
        (checkpoint.bulk_job.is_none() && !rereads).then(|| self.open_query(next, checkpoint))
    }
}

/// Sends the first page of `soql` and every page after it, in order, until the query ends, a
/// limit stops the calls, or the reader goes away; only the first when its total is over
/// `bulk_threshold`. An error is the last thing sent.
async fn fetch_pages(
    conn: OrgConnection,
    options: QueryOptions,
    limits: Limits,
    soql: String,
    bulk_threshold: Option<u64>,
    pages: mpsc::Sender<Result<FetchedPage, Interrupt>>,
) {
    let mut next = Some(soql);
    let mut first = true;
    while let Some(query_or_url) = next {
        let fetched = match limits.may_call() {
            Ok(()) if first => conn.query_first(&query_or_url, options).await.map_err(Interrupt::from),
            Ok(()) => conn.query_next(&query_or_url, options).await.map_err(Interrupt::from),
            Err(stop) => Err(stop.into()),
        };
        let page = match fetched {
            Ok(page) => page,
            Err(interrupt) => {
                let _ = pages.send(Err(interrupt)).await;
                return;
            }
        };
        next = match page.header.next() {
            Ok(url) => url.map(str::to_owned),
            Err(err) => {
                let _ = pages.send(Err(err.into())).await;
                return;
            }
        };
        if first && bulk_threshold.is_some_and(|threshold| page.header.total_size > threshold) {
            next = None;
        }
        first = false;
        if pages.send(Ok(page)).await.is_err() {
            return;
        }
    }
}
