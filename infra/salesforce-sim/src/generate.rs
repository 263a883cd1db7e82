//! Deterministic data generator: same seed + sizes (+ anchor) ⇒ identical org.

use crate::clock::SfDateTime;
use crate::config::SimConfig;
use crate::data::{Db, DeletedEntry, Record, Rng, Table, User};
use crate::ids::{SfId, USER_PREFIX};
use crate::schema::SObject;

const DAY: i64 = 86_400;

const FIRST: &[&str] = &[
    "James",
    "Mary",
    "Robert",
    "Patricia",
    "John",
    "Jennifer",
    "Michael",
    "Linda",
    "David",
    "Elizabeth",
    "William",
    "Barbara",
    "Richard",
    "Susan",
    "Joseph",
    "Jessica",
    "Thomas",
    "Sarah",
    "Charles",
    "Karen",
    "Daniel",
    "Lisa",
    "Matthew",
    "Nancy",
    "Anthony",
    "Sandra",
    "Mark",
    "Ashley",
    "Paul",
    "Emily",
    "Steven",
    "Donna",
    "Andrew",
    "Michelle",
    "Joshua",
    "Carol",
    "Kenji",
    "Yuki",
    "Priya",
    "Arjun",
    "Sofia",
    "Mateo",
    "Chloé",
    "Lukas",
    "Amara",
    "Kwame",
    "Ingrid",
    "Lars",
    "Fatima",
    "Omar",
    "Mei",
    "Wei",
    "Olga",
    "Ivan",
    "Aoife",
    "Siobhán",
    "José",
    "Lucía",
    "Noah",
    "Emma",
];

const LAST: &[&str] = &[
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Gonzalez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Perez",
    "Thompson",
    "White",
    "Harris",
    "Sanchez",
    "Clark",
    "Ramirez",
    "Lewis",
    "Robinson",
    "Walker",
    "Young",
    "Allen",
    "King",
    "Wright",
    "Scott",
    "Torres",
    "Nguyen",
    "Hill",
    "Flores",
    "Green",
    "Adams",
    "Nelson",
    "Baker",
    "Hall",
    "Rivera",
    "Campbell",
    "Mitchell",
    "Carter",
    "Roberts",
    "Tanaka",
    "Suzuki",
    "Patel",
    "Sharma",
    "Müller",
    "Schmidt",
    "Dubois",
    "Rossi",
    "Novak",
    "Kowalski",
    "O'Brien",
    "Murphy",
    "Okafor",
    "Mensah",
    "Andersson",
    "Nielsen",
    "Ivanova",
    "Chen",
    "Wang",
    "Kim",
    "Park",
    "Costa",
];

const DOMAINS: &[&str] = &[
    "example.com",
    "example.org",
    "example.net",
    "mail.example.com",
    "corp.example",
    "acme.example",
    "globex.example",
    "initech.example",
];

const COMPANIES: &[&str] = &[
    "Acme Corporation",
    "Globex",
    "Initech",
    "Umbrella Ltd",
    "Stark Industries",
    "Wayne Enterprises",
    "Wonka Industries",
    "Tyrell Corp",
    "Cyberdyne Systems",
    "Soylent",
    "Hooli",
    "Pied Piper",
    "Vandelay Industries",
    "Gringotts",
    "Oceanic Airlines",
    "Monarch Solutions",
    "Blue Sun",
    "Aperture Science",
    "Black Mesa",
    "Massive Dynamic",
];

const LEAD_STATUSES: &[&str] = &["Open - Not Contacted", "Working - Contacted", "Closed - Not Converted"];

const BOUNCE_REASONS: &[&str] = &[
    "550 5.1.1 The email account that you tried to reach does not exist",
    "552 5.2.2 The recipient's mailbox is full",
    "550 5.7.1 Message rejected by recipient policy",
    "554 5.4.4 Host not found",
];

/// ASCII-folds a name for use in an email local part.
fn ascii_slug(s: &str) -> String {
    s.chars()
        .filter_map(|c| match c {
            'a'..='z' | '0'..='9' => Some(c),
            'A'..='Z' => Some(c.to_ascii_lowercase()),
            'é' | 'É' => Some('e'),
            'á' | 'Á' => Some('a'),
            'ü' | 'Ü' => Some('u'),
            'í' => Some('i'),
            'ó' => Some('o'),
            _ => None,
        })
        .collect()
}

/// Builds the whole org database from the config.
pub fn generate(cfg: &SimConfig, org: &SfId, anchor: SfDateTime) -> Db {
    let mut db = Db::new(org);
    let slug = cfg.org_slug();
    for spec in &cfg.users {
        let id = db.next_id(USER_PREFIX);
        let username = spec.username.clone().unwrap_or_else(|| {
            if spec.integration {
                format!("integration@{slug}.example")
            } else {
                format!("{}.{}@{slug}.example", ascii_slug(&spec.first_name), ascii_slug(&spec.last_name))
            }
        });
        let created = SfDateTime(anchor.0 - 400 * DAY);
        db.users.push(User {
            id,
            email: spec.email.clone().unwrap_or_else(|| username.clone()),
            username,
            first_name: spec.first_name.clone(),
            last_name: spec.last_name.clone(),
            active: spec.active,
            integration: spec.integration,
            locale: spec.locale.clone(),
            zoneinfo: spec.zoneinfo.clone(),
            created_date: created,
            last_modified_date: created,
        });
    }
    for (obj, n, salt) in [(SObject::Contact, cfg.contacts, 0x436f_6e74u64), (SObject::Lead, cfg.leads, 0x4c65_6164u64)]
    {
        let mut rng = Rng::new(cfg.seed ^ salt.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let mut records = Vec::with_capacity(n);
        for i in 0..n {
            let id = db.next_id(obj.prefix());
            let r = generate_record(&mut rng, id, obj, i, n, anchor, &mut db.deleted_log);
            records.push(r);
        }
        apply_same_modstamp_block(&mut records, cfg.same_modstamp_block, anchor);
        match obj {
            SObject::Contact => db.contacts = Table::from_records(records),
            _ => db.leads = Table::from_records(records),
        }
    }
    db.deleted_log.sort_by_key(|e| e.deleted_date);
    db
}

fn generate_record(
    rng: &mut Rng,
    id: SfId,
    obj: SObject,
    i: usize,
    n: usize,
    anchor: SfDateTime,
    log: &mut Vec<DeletedEntry>,
) -> Record {
    // Created dates rise with the id over the 400..30 days before the anchor, so ids sort in
    // creation order and every SystemModstamp (last 30 days) is after CreatedDate.
    let span = 370 * DAY;
    let created = anchor.0 - 400 * DAY + (i as i64 * span) / n.max(1) as i64;
    let window_start = (anchor.0 - 30 * DAY).max(created);
    let mut modstamp = window_start + rng.below((anchor.0 - window_start).max(1) as u64) as i64;
    let first = rng.pick(FIRST);
    let last = rng.pick(LAST);
    let first_name = (!rng.chance(0.01)).then(|| (*first).to_owned());
    let email = (!rng.chance(0.02))
        .then(|| format!("{}.{}{}@{}", ascii_slug(first), ascii_slug(last), rng.below(1000), rng.pick(DOMAINS)));
    let opted_out = rng.chance(0.05);
    let bounced = email.is_some() && rng.chance(0.03);
    let (reason, bounce_date) = if bounced {
        let d = (modstamp - rng.below(3 * DAY as u64) as i64).max(created);
        (Some((*rng.pick(BOUNCE_REASONS)).to_owned()), Some(SfDateTime(d)))
    } else {
        (None, None)
    };
    let (company, status, converted) = if obj == SObject::Lead {
        let converted = rng.chance(0.10);
        let status = if converted { "Closed - Converted" } else { rng.pick(LEAD_STATUSES) };
        (Some((*rng.pick(COMPANIES)).to_owned()), Some(status.to_owned()), converted)
    } else {
        (None, None, false)
    };
    let deleted = rng.chance(0.02);
    let mut deleted_date = None;
    if deleted {
        let when = anchor.0 - DAY - rng.below(5 * DAY as u64) as i64;
        modstamp = when.max(created);
        deleted_date = Some(SfDateTime(modstamp));
        log.push(DeletedEntry { id, sobject: obj, deleted_date: SfDateTime(modstamp) });
    }
    Record {
        id,
        sobject: obj,
        first_name,
        last_name: (*last).to_owned(),
        email,
        has_opted_out_of_email: opted_out,
        is_email_bounced: bounced,
        email_bounced_reason: reason,
        email_bounced_date: bounce_date,
        created_date: SfDateTime(created),
        last_modified_date: SfDateTime(modstamp),
        system_modstamp: SfDateTime(modstamp),
        is_deleted: deleted,
        deleted_date,
        purged: false,
        external_id: None,
        company,
        status,
        is_converted: converted,
    }
}

/// Gives `k` live records (spread over the table) one identical SystemModstamp.
fn apply_same_modstamp_block(records: &mut [Record], k: usize, anchor: SfDateTime) {
    let live: Vec<usize> = (0..records.len()).filter(|i| !records[*i].is_deleted).collect();
    let k = k.min(live.len());
    if k == 0 {
        return;
    }
    let shared = anchor.0 - 15 * DAY;
    for j in 0..k {
        let r = &mut records[live[j * live.len() / k]];
        r.system_modstamp = SfDateTime(shared.max(r.created_date.0));
        r.last_modified_date = r.system_modstamp;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn org() -> SfId {
        SfId::parse(crate::config::DEFAULT_ORG_ID).unwrap()
    }

    #[test]
    fn same_seed_same_data_and_plausible_mix() {
        let cfg = SimConfig::default().with_records(2000, 1000);
        let anchor = SfDateTime(1_780_000_000);
        let a = generate(&cfg, &org(), anchor);
        let b = generate(&cfg, &org(), anchor);
        assert_eq!(a.contacts.records(), b.contacts.records());
        assert_eq!(a.leads.records(), b.leads.records());
        let c = a.contacts.records();
        let pct = |n: usize| n * 100 / c.len();
        let opted = pct(c.iter().filter(|r| r.has_opted_out_of_email).count());
        let bounced = pct(c.iter().filter(|r| r.is_email_bounced).count());
        let deleted = pct(c.iter().filter(|r| r.is_deleted).count());
        assert!((3..=7).contains(&opted), "{opted}");
        assert!((1..=5).contains(&bounced), "{bounced}");
        assert!((1..=4).contains(&deleted), "{deleted}");
        let converted = a.leads.records().iter().filter(|r| r.is_converted).count();
        assert!((60..=140).contains(&converted), "{converted}");
        assert!(c.windows(2).all(|w| w[0].id < w[1].id));
        assert!(c.iter().all(|r| r.system_modstamp.0 >= anchor.0 - 30 * DAY
            && r.system_modstamp.0 < anchor.0
            && r.created_date <= r.system_modstamp));
        assert_eq!(a.users.len(), 5);
        assert!(a.users.iter().any(|u| u.integration && u.username.starts_with("integration@")));
    }

    #[test]
    fn modstamp_block_shares_one_value() {
        let cfg = SimConfig::default().with_records(500, 10).with_same_modstamp_block(50);
        let db = generate(&cfg, &org(), SfDateTime(1_780_000_000));
        let shared = 1_780_000_000 - 15 * DAY;
        let n = db.contacts.records().iter().filter(|r| r.system_modstamp.0 == shared).count();
        assert_eq!(n, 50);
    }
}
