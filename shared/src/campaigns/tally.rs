//! A campaign's totals counted afresh from its addresses.

use super::{BounceKind, Counts, Delivery, SendState};
use crate::ids::OrgId;
use crate::store::{Store, StoreError, keys};

/// Every address of a campaign, segment by segment.
pub async fn all_deliveries(store: &dyn Store, org: &OrgId, id: &str) -> Result<Vec<Delivery>, StoreError> {
    let segments = (0..keys::CAMPAIGN_SEGMENTS).map(|segment| async move {
        let mut deliveries = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let (page, next) = store.deliveries(org, id, segment, after.as_deref(), 1000).await?;
            deliveries.extend(page);
            match next {
                Some(next) => after = Some(next),
                None => return Ok::<_, StoreError>(deliveries),
            }
        }
    });
    Ok(futures::future::try_join_all(segments).await?.into_iter().flatten().collect())
}

/// The totals `deliveries` add up to.
pub fn tally<'a>(deliveries: impl IntoIterator<Item = &'a Delivery>) -> Counts {
    let mut counts = Counts::default();
    for delivery in deliveries {
        counts.recipients += 1;
        match delivery.state {
            SendState::Sent => counts.sent += 1,
            SendState::Failed => counts.failed += 1,
            SendState::Unknown => counts.unknown += 1,
            SendState::Skipped => counts.skipped += 1,
            SendState::Queued | SendState::Claimed => {}
        }
        counts.delivered += u64::from(delivery.delivered);
        match delivery.bounce {
            Some(BounceKind::Permanent) => counts.bounced_permanent += 1,
            Some(BounceKind::Transient) => counts.bounced_transient += 1,
            None => {}
        }
        counts.complained += u64::from(delivery.complained);
        counts.unsubscribed += u64::from(delivery.unsubscribed);
    }
    counts.bounced = counts.bounced_permanent + counts.bounced_transient;
    counts
}

/// Sets the senders' totals to what the addresses say, once every address is settled (nothing
/// moves them any more, so writing them is safe however often it happens). What recipients do
/// later keeps being counted as it comes.
pub async fn recount(store: &dyn Store, org: &OrgId, id: &str) -> Result<Counts, StoreError> {
    let actual = tally(&all_deliveries(store, org, id).await?);
    let stored = store.campaign_counts(org, id).await?;
    if (stored.sent, stored.failed, stored.unknown, stored.skipped)
        != (actual.sent, actual.failed, actual.unknown, actual.skipped)
    {
        tracing::warn!(org = %org, campaign = id, "campaign totals corrected from the addresses");
    }
    store.set_sending_counts(org, id, &actual).await?;
    Ok(actual)
}
