//! A campaign's totals counted afresh from its addresses.

use super::{BounceKind, Counter, Counts, Delivery, SendState};
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

/// Sets the stored totals to what the addresses say.
pub async fn recount(store: &dyn Store, org: &OrgId, id: &str) -> Result<Counts, StoreError> {
    let actual = tally(&all_deliveries(store, org, id).await?);
    let stored = store.campaign_counts(org, id).await?;
    let pairs = [
        (Counter::Sent, actual.sent, stored.sent),
        (Counter::Failed, actual.failed, stored.failed),
        (Counter::Unknown, actual.unknown, stored.unknown),
        (Counter::Delivered, actual.delivered, stored.delivered),
        (Counter::BouncedPermanent, actual.bounced_permanent, stored.bounced_permanent),
        (Counter::BouncedTransient, actual.bounced_transient, stored.bounced_transient),
        (Counter::Complained, actual.complained, stored.complained),
        (Counter::Unsubscribed, actual.unsubscribed, stored.unsubscribed),
    ];
    // Corrections are added, not written: an event counted meanwhile is not lost.
    for (counter, actual, stored) in pairs {
        let correction = i64::try_from(actual).unwrap_or(i64::MAX) - i64::try_from(stored).unwrap_or(i64::MAX);
        if correction != 0 {
            tracing::warn!(org = %org, campaign = id, counter = counter.attribute(), correction, "campaign total corrected");
            store.count(org, id, counter, correction).await?;
        }
    }
    Ok(actual)
}
