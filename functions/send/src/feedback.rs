//! What recipients do, back into Outpost and Salesforce: SES's delivery, bounce and complaint
//! events, and unsubscribe links. Opt-outs and bounces are suppressed at once and queued for
//! write-back by the integration user.

use outpost_shared::campaigns::events::{EventKind, MailEvent};
use outpost_shared::campaigns::{
    BounceKind, Counter, Delivery, SendState, Suppression, SuppressionReason, Unsubscribe,
};
use outpost_shared::crypto::random_token;
use outpost_shared::ids::{OrgId, RecordId};
use outpost_shared::salesforce::SfDateTime;
use outpost_shared::store::{Change, WriteBack, now_epoch};

use outpost_shared::services::Services;

use crate::sender::{CAMPAIGN_TAG, ORG_TAG, SendFailure, TEST_TAG};

/// How an unsubscribe link ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unsubscribed {
    /// Opted out now or before (unsubscribing twice is the same as once).
    Done,
    /// The org is not registered any more: nothing to opt out of.
    UnknownOrg,
}

/// How a bounce of `kind` moves the totals of an address that bounced `before`: a permanent
/// bounce after a transient one moves it from one total to the other; `None` changes nothing.
fn bounce_counts(before: Option<BounceKind>, kind: BounceKind) -> Option<Vec<(Counter, i64)>> {
    let total = |kind| match kind {
        BounceKind::Permanent => Counter::BouncedPermanent,
        BounceKind::Transient => Counter::BouncedTransient,
    };
    match before {
        None => Some(vec![(total(kind), 1)]),
        Some(BounceKind::Transient) if kind == BounceKind::Permanent => {
            Some(vec![(Counter::BouncedPermanent, 1), (Counter::BouncedTransient, -1)])
        }
        Some(_) => None,
    }
}

/// An event proves SES accepted the message: an address whose outcome was unknown was sent after
/// all; one still claimed keeps SES's id, so whoever settles the claim knows it went out.
fn resolve(delivery: &mut Delivery, message_id: &str) -> Vec<(Counter, i64)> {
    match delivery.state {
        SendState::Unknown => {
            delivery.state = SendState::Sent;
            delivery.detail = None;
            delivery.message_id.get_or_insert_with(|| message_id.to_owned());
            vec![(Counter::Unknown, -1), (Counter::Sent, 1)]
        }
        SendState::Claimed => {
            delivery.message_id.get_or_insert_with(|| message_id.to_owned());
            Vec::new()
        }
        _ => Vec::new(),
    }
}

/// Applies what recipients did; needs only the store.
#[derive(Debug, Clone, Copy)]
pub struct Feedback<'a> {
    pub services: &'a Services,
}

impl Feedback<'_> {
    /// Applies one SES event.
    pub async fn handle_event(&self, event: &MailEvent) -> Result<(), SendFailure> {
        let campaign = event.tag(CAMPAIGN_TAG);
        let org = event.tag(ORG_TAG).and_then(|org| OrgId::parse(org).ok());
        let (Some(org), Some(campaign)) = (org, campaign) else {
            tracing::info!(message_id = %event.message_id, "an SES event of a message Outpost did not tag: ignored");
            return Ok(());
        };
        if event.tag(TEST_TAG).is_some() {
            return Ok(());
        }
        match &event.kind {
            EventKind::Delivery { recipients, .. } => {
                for address in recipients {
                    self.mark(&org, campaign, address, |delivery| {
                        (!delivery.delivered).then(|| {
                            delivery.delivered = true;
                            let mut counted = resolve(delivery, &event.message_id);
                            counted.push((Counter::Delivered, 1));
                            counted
                        })
                    })
                    .await?;
                }
            }
            EventKind::Bounce { kind, sub_type, recipients, at } => {
                let kind = kind.unwrap_or(BounceKind::Transient);
                for bounced in recipients {
                    let reason = bounced.reason(Some(kind), sub_type);
                    let marked = self
                        .mark(&org, campaign, &bounced.address, |delivery| {
                            let mut counted = bounce_counts(delivery.bounce, kind)?;
                            delivery.bounce = Some(kind);
                            counted.extend(resolve(delivery, &event.message_id));
                            delivery.detail = Some(reason.clone());
                            Some(counted)
                        })
                        .await?;
                    if let (BounceKind::Permanent, Some(delivery)) = (kind, marked) {
                        self.bounced(&org, campaign, &delivery, &reason, *at).await?;
                    }
                }
            }
            EventKind::Complaint { recipients, .. } => {
                for address in recipients {
                    let marked = self
                        .mark(&org, campaign, address, |delivery| {
                            (!delivery.complained).then(|| {
                                delivery.complained = true;
                                let mut counted = resolve(delivery, &event.message_id);
                                counted.push((Counter::Complained, 1));
                                counted
                            })
                        })
                        .await?;
                    if let Some(delivery) = marked {
                        let reason = SuppressionReason::Complained;
                        self.opt_out(&org, campaign, delivery.record, &delivery.address, reason).await?;
                    }
                }
            }
            EventKind::Send | EventKind::Reject { .. } | EventKind::Other(_) => {}
        }
        Ok(())
    }

    /// Changes one address of a campaign with `change` (which names the totals it moves, or
    /// `None` when nothing changes), over concurrent writers; the address as it now stands.
    async fn mark(
        &self,
        org: &OrgId,
        campaign: &str,
        address: &str,
        change: impl Fn(&mut Delivery) -> Option<Vec<(Counter, i64)>>,
    ) -> Result<Option<Delivery>, SendFailure> {
        let store = &self.services.store;
        let address = address.trim().to_lowercase();
        loop {
            let Some(mut delivery) = store.get_delivery(org, campaign, &address).await? else {
                tracing::info!(org = %org, campaign, "an event for an address the campaign does not hold: ignored");
                return Ok(None);
            };
            let Some(counted) = change(&mut delivery) else { return Ok(Some(delivery)) };
            let expected = std::mem::replace(&mut delivery.stamp, random_token());
            delivery.updated_at = now_epoch();
            if store.update_delivery(org, campaign, &delivery, &expected).await? {
                for (counter, delta) in counted {
                    store.count(org, campaign, counter, delta).await?;
                }
                return Ok(Some(delivery));
            }
        }
    }

    /// A permanent bounce: the address is suppressed, and the record's bounce fields are written.
    async fn bounced(
        &self,
        org: &OrgId,
        campaign: &str,
        delivery: &Delivery,
        reason: &str,
        at: SfDateTime,
    ) -> Result<(), SendFailure> {
        let store = &self.services.store;
        self.suppress(org, campaign, &delivery.address, SuppressionReason::Bounced).await?;
        let change = Change::Bounce { reason: reason.to_owned(), bounced_at: at };
        store.enqueue_write_back(&WriteBack::due_now(*org, delivery.record, change)).await?;
        if let Some(mut recipient) = store.get_recipient(org, &delivery.record).await?
            && !recipient.bounced
        {
            recipient.bounced = true;
            recipient.bounce_reason = Some(reason.to_owned());
            recipient.bounced_at = Some(at);
            store.write_recipients(org, &[recipient]).await?;
            store.mark_recipients_changed(org).await?;
        }
        Ok(())
    }

    async fn suppress(
        &self,
        org: &OrgId,
        campaign: &str,
        address: &str,
        reason: SuppressionReason,
    ) -> Result<(), SendFailure> {
        let suppression = Suppression {
            org_id: *org,
            address: address.to_owned(),
            reason,
            campaign_id: Some(campaign.to_owned()),
            at: now_epoch(),
        };
        self.services.store.suppress(&suppression).await?;
        Ok(())
    }

    /// The recipient wants no more mail: suppressed and opted out in Outpost at once, and
    /// `HasOptedOutOfEmail` queued for Salesforce.
    async fn opt_out(
        &self,
        org: &OrgId,
        campaign: &str,
        record: RecordId,
        address: &str,
        reason: SuppressionReason,
    ) -> Result<(), SendFailure> {
        let store = &self.services.store;
        self.suppress(org, campaign, address, reason).await?;
        store.enqueue_write_back(&WriteBack::due_now(*org, record, Change::OptOut)).await?;
        if let Some(mut recipient) = store.get_recipient(org, &record).await?
            && !recipient.opted_out
        {
            recipient.opted_out = true;
            store.write_recipients(org, &[recipient]).await?;
            // Warm list readers must stop counting the address now, not at the next sync.
            store.mark_recipients_changed(org).await?;
        }
        Ok(())
    }

    /// An unsubscribe link was used (its token already verified).
    pub async fn unsubscribe(&self, link: &Unsubscribe) -> Result<Unsubscribed, SendFailure> {
        let store = &self.services.store;
        let (org, campaign) = (&link.org_id, link.campaign_id.as_str());
        if store.get_org(org).await?.is_none() {
            return Ok(Unsubscribed::UnknownOrg);
        }
        // The address the campaign went to is its key; the record names it today.
        let current = store.get_recipient(org, &link.record).await?.and_then(|recipient| recipient.email);
        let address = current.as_deref().map(|email| email.trim().to_lowercase());
        let mut sent_to = None;
        if let Some(address) = &address {
            sent_to = self
                .mark(org, campaign, address, |delivery| {
                    (delivery.record == link.record && !delivery.unsubscribed).then(|| {
                        delivery.unsubscribed = true;
                        vec![(Counter::Unsubscribed, 1)]
                    })
                })
                .await?
                .filter(|delivery| delivery.record == link.record)
                .map(|delivery| delivery.address);
        }
        match sent_to.or(address) {
            Some(address) => {
                self.opt_out(org, campaign, link.record, &address, SuppressionReason::Unsubscribed).await?;
            }
            // The record is gone from Outpost: Salesforce still learns of the opt-out.
            None => {
                store.enqueue_write_back(&WriteBack::due_now(*org, link.record, Change::OptOut)).await?;
            }
        }
        tracing::info!(org = %org, campaign, "recipient unsubscribed");
        Ok(Unsubscribed::Done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bounce_is_counted_once_under_its_latest_kind() {
        use BounceKind::{Permanent, Transient};
        assert_eq!(bounce_counts(None, Transient), Some(vec![(Counter::BouncedTransient, 1)]));
        assert_eq!(
            bounce_counts(Some(Transient), Permanent),
            Some(vec![(Counter::BouncedPermanent, 1), (Counter::BouncedTransient, -1)])
        );
        assert_eq!(bounce_counts(Some(Transient), Transient), None);
        assert_eq!(bounce_counts(Some(Permanent), Transient), None, "a permanent bounce stays");
        assert_eq!(bounce_counts(Some(Permanent), Permanent), None);
    }
}
