//! The sync benchmark's DynamoDB stand-in answers Outpost's DynamoDB adapter as DynamoDB does:
//! conditions, pages, and writes past its capacity handed back as unprocessed, which the adapter
//! retries until every item is stored.

use std::time::Duration;

use outpost_tests::dynamodb_standin::{DynamoStandIn, StandInSettings};
use outpost_tests::outpost_shared::services::aws_clients_from;
use outpost_tests::outpost_shared::store::DynamoTable;
use outpost_tests::outpost_shared::store::table::{BatchPut, Condition, Key, Table, Write};

/// An item as the adapter reads it back (the key attributes beside it are not part of it).
#[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct Thing {
    n: i64,
    label: String,
}

async fn table_on(stand_in: &DynamoStandIn) -> DynamoTable {
    let endpoint = stand_in.endpoint.clone();
    let (client, _) = aws_clients_from(|name| match name {
        "AWS_ENDPOINT_URL" => Some(endpoint.clone()),
        "AWS_REGION" => Some("us-east-1".into()),
        "AWS_ACCESS_KEY_ID" | "AWS_SECRET_ACCESS_KEY" => Some("bench".into()),
        _ => None,
    })
    .unwrap();
    DynamoTable::create_if_missing(&client, "bench").await.unwrap();
    DynamoTable::new(client, "bench")
}

#[tokio::test]
async fn the_adapter_reads_and_writes_through_the_stand_in_as_through_dynamodb() {
    let stand_in =
        DynamoStandIn::start(StandInSettings { latency: Duration::ZERO, write_capacity: 1e9 }).await.unwrap();
    let table = table_on(&stand_in).await;
    let key = Key::new("P", "item");
    let value = |n: i64| Thing { n, label: "x".into() };

    assert_eq!(table.put(&key, None, &value(5), Condition::Absent).await.unwrap(), Write::Done);
    assert_eq!(table.put(&key, None, &value(6), Condition::Absent).await.unwrap(), Write::Refused(Some(value(5))));
    assert_eq!(
        table.put(&key, None, &value(4), Condition::AbsentOrBelow("n", 4)).await.unwrap(),
        Write::Refused(Some(value(5)))
    );
    assert_eq!(table.put(&key, None, &value(9), Condition::AbsentOrBelow("n", 9)).await.unwrap(), Write::Done);
    assert_eq!(
        table.put(&key, None, &value(1), Condition::Equals("label", "y".into())).await.unwrap(),
        Write::Refused(Some(value(9)))
    );
    assert_eq!(table.get::<Thing>(&key).await.unwrap(), Some(value(9)));
    // An expired item reads as absent and counts as absent for conditions.
    let expired = Key::new("P", "expired");
    table.put(&expired, Some(1), &value(1), Condition::Always).await.unwrap();
    assert_eq!(table.get::<Thing>(&expired).await.unwrap(), None);
    assert_eq!(table.put(&expired, None, &value(2), Condition::Absent).await.unwrap(), Write::Done);
    assert_eq!(table.delete(&key, Condition::Equals("label", "x".into())).await.unwrap(), Write::Done);

    let puts: Vec<BatchPut<Thing>> =
        (0..60).map(|n| BatchPut { key: Key::new("Q", format!("T#{n:03}")), ttl: None, item: value(n) }).collect();
    table.put_batch(&puts).await.unwrap();
    let (mut seen, mut after) = (Vec::new(), None::<String>);
    loop {
        let page = table.query::<Thing>("Q", "T#", after.as_deref(), 25).await.unwrap();
        seen.extend(page.items.into_iter().map(|(_, item)| item.n));
        match page.next_after {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    assert_eq!(seen, (0..60).collect::<Vec<_>>());
}

#[tokio::test]
async fn writes_past_its_capacity_come_back_unprocessed_and_the_adapter_retries_them_all() {
    // 200 items a second: a batch of 2,000 takes several seconds of retries.
    let stand_in = DynamoStandIn::start(StandInSettings { latency: Duration::from_millis(5), write_capacity: 200.0 })
        .await
        .unwrap();
    let table = table_on(&stand_in).await;
    let puts: Vec<BatchPut<serde_json::Value>> = (0..1000)
        .map(|n| BatchPut { key: Key::new("R", format!("{n:04}")), ttl: None, item: serde_json::json!({"n": n}) })
        .collect();

    let started = std::time::Instant::now();
    table.put_batch(&puts).await.unwrap();

    let stats = stand_in.stats();
    assert!(stats.items_throttled > 0, "{stats:?}");
    assert_eq!(stats.items_written, 1000);
    assert!(stats.max_batches_in_flight <= 16, "the adapter keeps at most 16 calls under way: {stats:?}");
    // 1,000 items at 200 a second, after a burst of one second's worth.
    assert!(started.elapsed() >= Duration::from_secs(3), "{:?}", started.elapsed());
    let page = table.query::<serde_json::Value>("R", "", None, 2000).await.unwrap();
    assert_eq!(page.items.len(), 1000);
}
