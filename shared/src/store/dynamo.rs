//! The DynamoDB table: `pk`/`sk` strings, numeric `ttl`, conditional writes with
//! `ReturnValuesOnConditionCheckFailure=ALL_OLD`, and BatchWriteItem (25 per call) that retries
//! `UnprocessedItems` with backoff until none are left.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::operation::delete_item::DeleteItemError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::put_item::builders::PutItemFluentBuilder;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    AttributeValue, DeleteRequest, KeysAndAttributes, PutRequest, ReturnValuesOnConditionCheckFailure, WriteRequest,
};
use futures::{StreamExt, TryStreamExt};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::StoreError;
use super::model::{EpochSeconds, now_epoch};
use super::table::{BatchPut, Condition, ConditionalPut, Key, Page, Table, Write};

type Item = HashMap<String, AttributeValue>;

/// BatchWriteItem's limit.
const BATCH_LIMIT: usize = 25;
/// BatchGetItem's limit.
const GET_BATCH_LIMIT: usize = 100;
/// Batch calls in flight at once: a 2,000-record sync page is 80 calls, 5 rounds of 16.
const BATCH_CONCURRENCY: usize = 16;
/// Give up on UnprocessedItems after this many rounds (DynamoDB throttling for minutes).
const BATCH_ROUNDS: u32 = 12;

/// A DynamoDB table with the single-table layout of docs/data-model.md.
#[derive(Debug, Clone)]
pub struct DynamoTable {
    client: Client,
    name: String,
}

fn unavailable<E: std::error::Error + 'static>(err: E) -> StoreError {
    StoreError::Unavailable(DisplayErrorContext(err).to_string())
}

fn corrupt(err: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(err.to_string())
}

fn key_item(key: &Key) -> Item {
    HashMap::from([
        ("pk".to_owned(), AttributeValue::S(key.pk.to_owned())),
        ("sk".to_owned(), AttributeValue::S(key.sk.to_owned())),
    ])
}

fn full_item<T: Serialize>(key: &Key, ttl: Option<EpochSeconds>, item: &T) -> Result<Item, StoreError> {
    let mut attributes: Item = serde_dynamo::to_item(item).map_err(corrupt)?;
    attributes.extend(key_item(key));
    if let Some(ttl) = ttl {
        attributes.insert("ttl".to_owned(), AttributeValue::N(ttl.to_string()));
    }
    Ok(attributes)
}

/// Whether an item read back is past its `ttl` (TTL deletion lags by up to days).
fn expired(item: &Item, now: EpochSeconds) -> bool {
    item.get("ttl").and_then(|ttl| ttl.as_n().ok()).and_then(|n| n.parse::<i64>().ok()).is_some_and(|ttl| ttl <= now)
}

/// Full jitter up to 50 ms doubled each round (at most 3.2 s): DynamoDB's advice for throttled
/// batch items.
fn backoff(round: u32) -> Duration {
    let ceiling = 50u64 << round.min(6);
    Duration::from_millis(u64::from_le_bytes(crate::crypto::random_bytes::<8>()) % (ceiling + 1))
}

/// A condition expression with its attribute names and values.
struct Expression {
    text: &'static str,
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

/// The expression of `condition`; expired items (`ttl <= now`) count as absent.
fn expression(condition: &Condition, now: EpochSeconds) -> Option<Expression> {
    let (text, attribute, value) = match condition {
        Condition::Always => return None,
        Condition::Absent => ("attribute_not_exists(pk) OR #ttl <= :now", None, None),
        Condition::Equals(attribute, value) => (
            "attribute_exists(pk) AND #a = :v AND (attribute_not_exists(#ttl) OR #ttl > :now)",
            Some(attribute),
            Some(AttributeValue::S(value.clone())),
        ),
        Condition::AbsentOrBelow(attribute, limit) => (
            "attribute_not_exists(pk) OR #ttl <= :now OR #a < :v",
            Some(attribute),
            Some(AttributeValue::N(limit.to_string())),
        ),
    };
    let mut names = HashMap::from([("#ttl".to_owned(), "ttl".to_owned())]);
    let mut values = HashMap::from([(":now".to_owned(), AttributeValue::N(now.to_string()))]);
    if let (Some(attribute), Some(value)) = (attribute, value) {
        names.insert("#a".to_owned(), (*attribute).to_owned());
        values.insert(":v".to_owned(), value);
    }
    Some(Expression { text, names, values })
}

impl DynamoTable {
    /// A table named `name` reached through `client`.
    pub fn new(client: Client, name: impl Into<String>) -> Self {
        Self { client, name: name.into() }
    }

    /// The table's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Creates the table as template.yaml does (on-demand, `pk`/`sk`, TTL on `ttl`) unless it
    /// exists: for emulators and development endpoints, never needed on AWS.
    pub async fn create_if_missing(client: &Client, name: &str) -> Result<(), StoreError> {
        use aws_sdk_dynamodb::types::{
            AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType, TimeToLiveSpecification,
        };
        if client.describe_table().table_name(name).send().await.is_ok() {
            return Ok(());
        }
        let attribute = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(corrupt)
        };
        let key = |name: &str, kind: KeyType| {
            KeySchemaElement::builder().attribute_name(name).key_type(kind).build().map_err(corrupt)
        };
        client
            .create_table()
            .table_name(name)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(attribute("pk")?)
            .attribute_definitions(attribute("sk")?)
            .key_schema(key("pk", KeyType::Hash)?)
            .key_schema(key("sk", KeyType::Range)?)
            .send()
            .await
            .map_err(unavailable)?;
        let ttl = TimeToLiveSpecification::builder().attribute_name("ttl").enabled(true).build().map_err(corrupt)?;
        client
            .update_time_to_live()
            .table_name(name)
            .time_to_live_specification(ttl)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    /// A PutItem of `item` under `key`, guarded by `condition`.
    fn put_request<T: Serialize>(
        &self,
        key: &Key,
        ttl: Option<EpochSeconds>,
        item: &T,
        condition: &Condition,
        now: EpochSeconds,
    ) -> Result<PutItemFluentBuilder, StoreError> {
        let mut request = self.client.put_item().table_name(&self.name).set_item(Some(full_item(key, ttl, item)?));
        if let Some(expression) = expression(condition, now) {
            request = request
                .condition_expression(expression.text)
                .set_expression_attribute_names(Some(expression.names))
                .set_expression_attribute_values(Some(expression.values));
        }
        Ok(request)
    }

    async fn write_batch(&self, requests: Vec<WriteRequest>) -> Result<(), StoreError> {
        let mut pending = requests;
        for round in 0..BATCH_ROUNDS {
            let output =
                self.client.batch_write_item().request_items(&self.name, pending).send().await.map_err(unavailable)?;
            pending =
                output.unprocessed_items.and_then(|mut unprocessed| unprocessed.remove(&self.name)).unwrap_or_default();
            if pending.is_empty() {
                return Ok(());
            }
            // A "successful" batch can still hand items back under throttling: back off and resend.
            tokio::time::sleep(backoff(round)).await;
        }
        Err(StoreError::Unavailable(format!("{} items still unprocessed after {BATCH_ROUNDS} rounds", pending.len())))
    }

    /// Sends `items` in BatchWriteItem calls of 25, at most 16 under way; each call's requests
    /// are built as it starts, so building the next ones overlaps the calls in flight.
    async fn write_all<I: Sync>(
        &self,
        items: &[I],
        request: impl Fn(&I) -> Result<WriteRequest, StoreError> + Sync,
    ) -> Result<(), StoreError> {
        // Futures do nothing until polled: each chunk is built when its call starts.
        let calls: Vec<_> = items.chunks(BATCH_LIMIT).map(|chunk| self.write_chunk(chunk, &request)).collect();
        futures::stream::iter(calls).buffer_unordered(BATCH_CONCURRENCY).try_collect::<Vec<()>>().await.map(drop)
    }

    async fn write_chunk<I>(
        &self,
        chunk: &[I],
        request: &impl Fn(&I) -> Result<WriteRequest, StoreError>,
    ) -> Result<(), StoreError> {
        let requests = chunk.iter().map(request).collect::<Result<Vec<_>, _>>()?;
        self.write_batch(requests).await
    }
}

#[async_trait]
impl Table for DynamoTable {
    async fn get<T: DeserializeOwned + Send>(&self, key: &Key) -> Result<Option<T>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.name)
            .set_key(Some(key_item(key)))
            // Sessions are read right after the redirect that created them.
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        match output.item {
            Some(item) if !expired(&item, now_epoch()) => serde_dynamo::from_item(item).map(Some).map_err(corrupt),
            _ => Ok(None),
        }
    }

    async fn get_batch<T: DeserializeOwned + Send>(&self, keys: &[Key]) -> Result<Vec<Option<T>>, StoreError> {
        let mut found: HashMap<(String, String), Item> = HashMap::new();
        for chunk in keys.chunks(GET_BATCH_LIMIT) {
            let mut pending = KeysAndAttributes::builder()
                .set_keys(Some(chunk.iter().map(key_item).collect()))
                .consistent_read(true)
                .build()
                .map_err(corrupt)?;
            for round in 0..BATCH_ROUNDS {
                let output = self
                    .client
                    .batch_get_item()
                    .request_items(&self.name, pending.clone())
                    .send()
                    .await
                    .map_err(unavailable)?;
                for item in output.responses.and_then(|mut tables| tables.remove(&self.name)).unwrap_or_default() {
                    let key = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
                    found.insert((key("pk"), key("sk")), item);
                }
                match output.unprocessed_keys.and_then(|mut left| left.remove(&self.name)) {
                    Some(left) if !left.keys.is_empty() => pending = left,
                    _ => break,
                }
                // Throttled keys come back unprocessed, as writes do: back off and ask again.
                tokio::time::sleep(backoff(round)).await;
                if round + 1 == BATCH_ROUNDS {
                    return Err(StoreError::Unavailable(format!("keys still unprocessed after {BATCH_ROUNDS} rounds")));
                }
            }
        }
        let now = now_epoch();
        keys.iter()
            .map(|key| match found.remove(&(key.pk.clone(), key.sk.clone())) {
                Some(item) if !expired(&item, now) => serde_dynamo::from_item(item).map(Some).map_err(corrupt),
                _ => Ok(None),
            })
            .collect()
    }

    async fn put<T: Serialize + DeserializeOwned + Send + Sync>(
        &self,
        key: &Key,
        ttl: Option<EpochSeconds>,
        item: &T,
        condition: Condition,
    ) -> Result<Write<T>, StoreError> {
        let now = now_epoch();
        let request = self
            .put_request(key, ttl, item, &condition, now)?
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        match request.send().await {
            Ok(_) => Ok(Write::Done),
            Err(SdkError::ServiceError(err))
                if matches!(err.err(), PutItemError::ConditionalCheckFailedException(_)) =>
            {
                let old = match err.into_err() {
                    PutItemError::ConditionalCheckFailedException(failure) => failure.item,
                    _ => None,
                };
                match old {
                    Some(old) if !expired(&old, now) => {
                        Ok(Write::Refused(Some(serde_dynamo::from_item(old).map_err(corrupt)?)))
                    }
                    _ => Ok(Write::Refused(None)),
                }
            }
            Err(err) => Err(unavailable(err)),
        }
    }

    async fn delete(&self, key: &Key, condition: Condition) -> Result<Write<()>, StoreError> {
        let mut request = self.client.delete_item().table_name(&self.name).set_key(Some(key_item(key)));
        if let Some(expression) = expression(&condition, now_epoch()) {
            request = request
                .condition_expression(expression.text)
                .set_expression_attribute_names(Some(expression.names))
                .set_expression_attribute_values(Some(expression.values));
        }
        match request.send().await {
            Ok(_) => Ok(Write::Done),
            Err(SdkError::ServiceError(err))
                if matches!(err.err(), DeleteItemError::ConditionalCheckFailedException(_)) =>
            {
                Ok(Write::Refused(None))
            }
            Err(err) => Err(unavailable(err)),
        }
    }

    async fn query<T: DeserializeOwned + Send>(
        &self,
        pk: &str,
        sk_prefix: &str,
        start_after: Option<&str>,
        limit: usize,
    ) -> Result<Page<T>, StoreError> {
        let mut request = self
            .client
            .query()
            .table_name(&self.name)
            .expression_attribute_values(":pk", AttributeValue::S(pk.to_owned()))
            .consistent_read(true)
            .limit(i32::try_from(limit).unwrap_or(i32::MAX));
        // DynamoDB refuses an empty key value, so the whole partition is asked for without one.
        request = if sk_prefix.is_empty() {
            request.key_condition_expression("pk = :pk")
        } else {
            request
                .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                .expression_attribute_values(":prefix", AttributeValue::S(sk_prefix.to_owned()))
        };
        if let Some(after) = start_after {
            request = request.set_exclusive_start_key(Some(key_item(&Key::new(pk, after))));
        }
        let output = request.send().await.map_err(unavailable)?;
        let now = now_epoch();
        let mut items = Vec::new();
        for item in output.items.unwrap_or_default() {
            if expired(&item, now) {
                continue;
            }
            let sk = item.get("sk").and_then(|sk| sk.as_s().ok()).cloned().ok_or_else(|| corrupt("item without sk"))?;
            items.push((sk, serde_dynamo::from_item(item).map_err(corrupt)?));
        }
        let next_after = output.last_evaluated_key.and_then(|key| key.get("sk").and_then(|sk| sk.as_s().ok()).cloned());
        Ok(Page { items, next_after })
    }

    async fn put_each<T: Serialize + Send + Sync>(&self, items: &[ConditionalPut<T>]) -> Result<Vec<bool>, StoreError> {
        let now = now_epoch();
        let puts = items
            .iter()
            .map(|put| self.put_request(&put.key, put.ttl, &put.item, &put.condition, now))
            .collect::<Result<Vec<_>, StoreError>>()?;
        futures::stream::iter(puts)
            .map(|request| async move {
                match request.send().await {
                    Ok(_) => Ok(true),
                    Err(SdkError::ServiceError(err))
                        if matches!(err.err(), PutItemError::ConditionalCheckFailedException(_)) =>
                    {
                        Ok(false)
                    }
                    Err(err) => Err(unavailable(err)),
                }
            })
            .buffered(BATCH_CONCURRENCY)
            .try_collect()
            .await
    }

    async fn put_batch<T: Serialize + Send + Sync>(&self, items: &[BatchPut<T>]) -> Result<(), StoreError> {
        self.write_all(items, |put| {
            let item = full_item(&put.key, put.ttl, &put.item)?;
            let request = PutRequest::builder().set_item(Some(item)).build().map_err(corrupt)?;
            Ok(WriteRequest::builder().put_request(request).build())
        })
        .await
    }

    async fn delete_batch(&self, keys: &[Key]) -> Result<(), StoreError> {
        self.write_all(keys, |key| {
            let request = DeleteRequest::builder().set_key(Some(key_item(key))).build().map_err(corrupt)?;
            Ok(WriteRequest::builder().delete_request(request).build())
        })
        .await
    }

    async fn add(
        &self,
        key: &Key,
        ttl: Option<EpochSeconds>,
        attribute: &'static str,
        delta: i64,
        at_most: Option<i64>,
    ) -> Result<bool, StoreError> {
        let mut names = HashMap::from([("#a".to_owned(), attribute.to_owned())]);
        let mut values = HashMap::from([(":d".to_owned(), AttributeValue::N(delta.to_string()))]);
        let mut update = "ADD #a :d".to_owned();
        if let Some(ttl) = ttl {
            update.push_str(" SET #ttl = :ttl");
            names.insert("#ttl".to_owned(), "ttl".to_owned());
            values.insert(":ttl".to_owned(), AttributeValue::N(ttl.to_string()));
        }
        let mut request = self.client.update_item().table_name(&self.name).set_key(Some(key_item(key)));
        if let Some(at_most) = at_most {
            request = request.condition_expression("attribute_not_exists(#a) OR #a <= :limit");
            values.insert(":limit".to_owned(), AttributeValue::N(at_most.saturating_sub(delta).to_string()));
        }
        let request = request
            .update_expression(update)
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values));
        match request.send().await {
            Ok(_) => Ok(true),
            Err(SdkError::ServiceError(err))
                if matches!(err.err(), UpdateItemError::ConditionalCheckFailedException(_)) =>
            {
                Ok(false)
            }
            Err(err) => Err(unavailable(err)),
        }
    }
}
