//! Deterministic data generator: same seed + sizes (+ anchor) ⇒ identical org.
//!
//! The fields the sim started with are drawn from one RNG stream per object, in a fixed order;
//! every field added later (owner, account, title, address, custom fields, the email variety)
//! comes from streams of its own, so adding them changed none of the earlier values.

use std::borrow::Cow;
use std::collections::BTreeMap;

use crate::clock::SfDateTime;
use crate::config::SimConfig;
use crate::data::{Account, Db, DeletedEntry, Record, Rng, Table, User, blank_record};
use crate::ids::{ACCOUNT_PREFIX, SfId, USER_PREFIX};
use crate::schema::{Field, INDUSTRIES, LEAD_SOURCES, REGIONS, SObject, TIERS};

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

// Statuses of leads that are not converted (the converted ones are `Closed - Converted`).
const LEAD_STATUSES: &[&str] = &["Open - Not Contacted", "Working - Contacted", "Closed - Not Converted"];

const TITLES: &[&str] = &[
    "Chief Executive Officer",
    "Chief Financial Officer",
    "Chief Technology Officer",
    "Chief Marketing Officer",
    "VP of Sales",
    "VP of Marketing",
    "VP of Engineering",
    "Director of Operations",
    "Director of Procurement",
    "IT Director",
    "Head of Customer Success",
    "Marketing Manager",
    "Sales Manager",
    "Product Manager",
    "Project Manager",
    "Operations Manager",
    "Office Manager",
    "HR Manager",
    "Purchasing Manager",
    "Account Executive",
    "Business Development Manager",
    "Sales Representative",
    "Marketing Coordinator",
    "Software Engineer",
    "Senior Software Engineer",
    "Data Analyst",
    "Financial Analyst",
    "Controller",
    "Buyer",
    "Consultant",
    "General Counsel",
    "Executive Assistant",
];

const DEPARTMENTS: &[&str] = &[
    "Sales",
    "Marketing",
    "Finance",
    "Engineering",
    "Operations",
    "Human Resources",
    "IT",
    "Legal",
    "Customer Success",
    "Procurement",
    "Executive",
];

/// A country with its weight in the generated mix, its `Region__c`, and regions with cities.
struct Country {
    name: &'static str,
    weight: u64,
    region: &'static str,
    /// Share of addresses without a state/region (common where addresses rarely carry one).
    stateless: f64,
    states: &'static [(&'static str, &'static [&'static str])],
}

const COUNTRIES: &[Country] = &[
    Country {
        name: "United States",
        weight: 40,
        region: "AMER",
        stateless: 0.0,
        states: &[
            ("California", &["San Francisco", "Los Angeles", "San Diego", "San Jose", "Sacramento"]),
            ("New York", &["New York", "Buffalo", "Rochester", "Albany"]),
            ("Texas", &["Austin", "Houston", "Dallas", "San Antonio"]),
            ("Illinois", &["Chicago", "Springfield", "Naperville"]),
            ("Washington", &["Seattle", "Spokane", "Tacoma", "Redmond"]),
            ("Massachusetts", &["Boston", "Cambridge", "Worcester"]),
            ("Florida", &["Miami", "Orlando", "Tampa", "Jacksonville"]),
            ("Georgia", &["Atlanta", "Savannah"]),
            ("Colorado", &["Denver", "Boulder", "Colorado Springs"]),
            ("North Carolina", &["Charlotte", "Raleigh", "Durham"]),
            ("Pennsylvania", &["Philadelphia", "Pittsburgh"]),
            ("Oregon", &["Portland", "Eugene"]),
        ],
    },
    Country {
        name: "United Kingdom",
        weight: 12,
        region: "EMEA",
        stateless: 0.5,
        states: &[
            ("England", &["London", "Manchester", "Birmingham", "Leeds", "Bristol", "Cambridge"]),
            ("Scotland", &["Edinburgh", "Glasgow", "Aberdeen"]),
            ("Wales", &["Cardiff", "Swansea"]),
            ("Northern Ireland", &["Belfast", "Derry"]),
        ],
    },
    Country {
        name: "Germany",
        weight: 10,
        region: "EMEA",
        stateless: 0.2,
        states: &[
            ("Bavaria", &["Munich", "Nuremberg", "Augsburg"]),
            ("Berlin", &["Berlin"]),
            ("Hamburg", &["Hamburg"]),
            ("Hesse", &["Frankfurt am Main", "Wiesbaden", "Darmstadt"]),
            ("North Rhine-Westphalia", &["Cologne", "Düsseldorf", "Dortmund", "Essen"]),
            ("Baden-Württemberg", &["Stuttgart", "Karlsruhe", "Heidelberg"]),
        ],
    },
    Country {
        name: "France",
        weight: 8,
        region: "EMEA",
        stateless: 0.3,
        states: &[
            ("Île-de-France", &["Paris", "Boulogne-Billancourt", "Versailles"]),
            ("Auvergne-Rhône-Alpes", &["Lyon", "Grenoble", "Clermont-Ferrand"]),
            ("Provence-Alpes-Côte d'Azur", &["Marseille", "Nice", "Aix-en-Provence"]),
            ("Occitanie", &["Toulouse", "Montpellier"]),
            ("Nouvelle-Aquitaine", &["Bordeaux", "Limoges"]),
        ],
    },
    Country {
        name: "Canada",
        weight: 8,
        region: "AMER",
        stateless: 0.0,
        states: &[
            ("Ontario", &["Toronto", "Ottawa", "Mississauga", "Waterloo"]),
            ("Quebec", &["Montréal", "Québec City", "Laval"]),
            ("British Columbia", &["Vancouver", "Victoria", "Surrey"]),
            ("Alberta", &["Calgary", "Edmonton"]),
        ],
    },
    Country {
        name: "Australia",
        weight: 6,
        region: "APAC",
        stateless: 0.0,
        states: &[
            ("New South Wales", &["Sydney", "Newcastle", "Wollongong"]),
            ("Victoria", &["Melbourne", "Geelong"]),
            ("Queensland", &["Brisbane", "Gold Coast"]),
            ("Western Australia", &["Perth", "Fremantle"]),
        ],
    },
    Country {
        name: "Japan",
        weight: 6,
        region: "APAC",
        stateless: 0.2,
        states: &[
            ("Tokyo", &["Shibuya", "Minato", "Shinjuku", "Chiyoda"]),
            ("Osaka", &["Osaka", "Sakai"]),
            ("Kanagawa", &["Yokohama", "Kawasaki"]),
            ("Aichi", &["Nagoya", "Toyota"]),
            ("Fukuoka", &["Fukuoka", "Kitakyushu"]),
        ],
    },
    Country {
        name: "India",
        weight: 4,
        region: "APAC",
        stateless: 0.0,
        states: &[
            ("Maharashtra", &["Mumbai", "Pune"]),
            ("Karnataka", &["Bengaluru", "Mysuru"]),
            ("Delhi", &["New Delhi"]),
            ("Tamil Nadu", &["Chennai", "Coimbatore"]),
        ],
    },
    Country {
        name: "Netherlands",
        weight: 3,
        region: "EMEA",
        stateless: 0.6,
        states: &[
            ("North Holland", &["Amsterdam", "Haarlem"]),
            ("South Holland", &["Rotterdam", "The Hague", "Leiden"]),
            ("Utrecht", &["Utrecht"]),
        ],
    },
    Country {
        name: "Spain",
        weight: 3,
        region: "EMEA",
        stateless: 0.3,
        states: &[
            ("Madrid", &["Madrid", "Alcalá de Henares"]),
            ("Catalonia", &["Barcelona", "Girona"]),
            ("Andalusia", &["Seville", "Málaga"]),
        ],
    },
];

const ACCOUNT_HEADS: &[&str] = &[
    "Northwind",
    "Blue Ridge",
    "Summit",
    "Pinnacle",
    "Evergreen",
    "Silverline",
    "Redwood",
    "Harbor",
    "Crestview",
    "Ironbridge",
    "Lakeside",
    "Granite",
    "Brightwater",
    "Oakmont",
    "Meridian",
    "Cobalt",
    "Falcon",
    "Sterling",
    "Horizon",
    "Keystone",
    "Atlas",
    "Beacon",
    "Cedar",
    "Delta",
    "Elmwood",
    "Foxglove",
    "Greenfield",
    "Highland",
    "Juniper",
    "Kingsway",
    "Lighthouse",
    "Maple Leaf",
    "Nordic",
    "O'Hara",
    "Orchard",
    "Prairie",
    "Quarry",
    "Riverside",
    "Sakura",
    "Tidewater",
    "Union Square",
];

const ACCOUNT_TRADES: &[&str] = &[
    "Analytics",
    "Logistics",
    "Health",
    "Foods",
    "Energy",
    "Software",
    "Capital",
    "Manufacturing",
    "Consulting",
    "Biotech",
    "Media",
    "Retail",
    "Systems",
    "Robotics",
    "Insurance",
    "Labs",
    "Networks",
    "Pharma",
    "Outfitters",
    "Partners",
];

const ACCOUNT_SUFFIXES: &[&str] = &["Inc.", "LLC", "Ltd", "GmbH", "S.A.", "Corp.", "Group", "K.K.", "Pty Ltd", "plc"];

const NOTES: &[&str] = &[
    "Met at the spring trade show; interested in the enterprise plan.",
    "Prefers email over phone.\nDo not call before 10am local time.",
    "Asked for a \"renewal quote\", due next quarter.",
    "Budget approved, waiting on procurement, legal review pending.",
    "Former customer; churned in 2023, open to a demo.",
    "Referred by a partner.\nFollow up after the product launch.",
];

const NO_TLD_DOMAINS: &[&str] = &["intranet", "localhost", "mailserver", "corp"];

/// The Amazon SES mailbox simulator addresses every org carries on three Contacts.
pub const SES_SIMULATOR_ADDRESSES: [&str; 3] =
    ["success@simulator.amazonses.com", "bounce@simulator.amazonses.com", "complaint@simulator.amazonses.com"];

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
    let owners = Owners::new(&db.users);
    let default_owner = db.default_owner();
    let mut account_rng = Rng::new(stream(cfg.seed, 0x4163_636f));
    for _ in 0..cfg.contacts.div_ceil(8) {
        let id = db.next_id(ACCOUNT_PREFIX);
        db.accounts.push(generate_account(&mut account_rng, id, &owners, default_owner, anchor));
    }
    let mut tables = Vec::with_capacity(2);
    for (obj, n, salt) in [(SObject::Contact, cfg.contacts, 0x436f_6e74u64), (SObject::Lead, cfg.leads, 0x4c65_6164u64)]
    {
        let mut rng = Rng::new(cfg.seed ^ salt.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let mut extra = Rng::new(stream(cfg.seed, salt));
        let mut records = Vec::with_capacity(n);
        for i in 0..n {
            let id = db.next_id(obj.prefix());
            let mut r = generate_record(&mut rng, id, obj, i, n, anchor, &mut db.deleted_log);
            add_fields(&mut extra, &mut r, &owners, default_owner, &db.accounts);
            records.push(r);
        }
        apply_same_modstamp_block(&mut records, cfg.same_modstamp_block, anchor);
        tables.push(records);
    }
    let mut leads = tables.pop().unwrap_or_default();
    let mut contacts = tables.pop().unwrap_or_default();
    vary_emails(&mut contacts, &mut leads, &mut Rng::new(stream(cfg.seed, 0x456d_6169)));
    db.contacts = Table::from_records(contacts);
    db.leads = Table::from_records(leads);
    db.deleted_log.sort_by_key(|e| e.deleted_date);
    db
}

/// The seed of an RNG stream of its own for `salt`, independent of the original per-object
/// streams (`seed ^ salt * φ`), so new draws never shift old ones.
fn stream(seed: u64, salt: u64) -> u64 {
    let mut s = seed ^ salt.rotate_left(32) ^ 0x5eed_0ff1_e1d5_u64;
    crate::data::splitmix64(&mut s)
}

/// Record owners: the active users who are not the integration user, weighted 50/30/20 (then
/// 10 each for any further users), like a small sales team.
struct Owners {
    ids: Vec<SfId>,
    cumulative: Vec<u64>,
}

impl Owners {
    fn new(users: &[User]) -> Owners {
        let ids: Vec<SfId> = users.iter().filter(|u| u.active && !u.integration).map(|u| u.id).collect();
        let mut total = 0;
        let cumulative = (0..ids.len())
            .map(|i| {
                total += [50, 30, 20].get(i).copied().unwrap_or(10);
                total
            })
            .collect();
        Owners { ids, cumulative }
    }

    fn pick(&self, rng: &mut Rng, fallback: SfId) -> SfId {
        let Some(total) = self.cumulative.last() else {
            return fallback;
        };
        let x = rng.below(*total);
        let i = self.cumulative.partition_point(|c| *c <= x);
        self.ids.get(i).copied().unwrap_or(fallback)
    }
}

fn generate_account(rng: &mut Rng, id: SfId, owners: &Owners, fallback: SfId, anchor: SfDateTime) -> Account {
    let head = rng.pick(ACCOUNT_HEADS);
    let trade = rng.pick(ACCOUNT_TRADES);
    let name = if rng.chance(0.25) {
        format!("{head} {trade}")
    } else {
        format!("{head} {trade} {}", rng.pick(ACCOUNT_SUFFIXES))
    };
    let created = anchor.0 - 420 * DAY - rng.below(300 * DAY as u64) as i64;
    Account { id, name, owner_id: owners.pick(rng, fallback), created_date: SfDateTime(created) }
}

fn pick_weighted<'a, T>(rng: &mut Rng, items: &'a [T], weight: impl Fn(&T) -> u64) -> Option<&'a T> {
    let total: u64 = items.iter().map(&weight).sum();
    let mut x = rng.below(total);
    for item in items {
        let w = weight(item);
        if x < w {
            return Some(item);
        }
        x -= w;
    }
    None
}

/// Draws a realistic address: (country, state, city), each possibly null.
fn address(rng: &mut Rng) -> (Option<&'static Country>, Option<&'static str>, Option<&'static str>) {
    if rng.chance(0.05) {
        return (None, None, None);
    }
    let Some(country) = pick_weighted(rng, COUNTRIES, |c| c.weight) else {
        return (None, None, None);
    };
    let (state, cities) = *rng.pick(country.states);
    let city = *rng.pick(cities);
    let state = (!rng.chance(country.stateless)).then_some(state);
    let city = (!rng.chance(0.03)).then_some(city);
    (Some(country), state, city)
}

fn maybe(rng: &mut Rng, present: f64, items: &[&'static str]) -> Option<Cow<'static, str>> {
    let v = *rng.pick(items);
    rng.chance(present).then_some(Cow::Borrowed(v))
}

/// Adds the fields that came after the first release, from the record's own stream.
fn add_fields(rng: &mut Rng, r: &mut Record, owners: &Owners, default_owner: SfId, accounts: &[Account]) {
    r.owner_id = owners.pick(rng, default_owner);
    r.title = maybe(rng, 0.88, TITLES);
    r.lead_source = maybe(rng, 0.85, LEAD_SOURCES);
    let (country, state, city) = address(rng);
    let (country_name, state, city) =
        (country.map(|c| Cow::Borrowed(c.name)), state.map(Cow::Borrowed), city.map(Cow::Borrowed));
    if r.sobject == SObject::Contact {
        let account = (!accounts.is_empty() && !rng.chance(0.1)).then(|| rng.below(accounts.len() as u64) as usize);
        r.account_id = account.and_then(|i| accounts.get(i)).map(|a| a.id);
        r.department = maybe(rng, 0.8, DEPARTMENTS);
        (r.mailing_country, r.mailing_state, r.mailing_city) = (country_name, state, city);
    } else {
        r.industry = maybe(rng, 0.9, INDUSTRIES);
        (r.country, r.state, r.city) = (country_name, state, city);
    }
    let mut custom = BTreeMap::new();
    if let Some(c) = country {
        custom.insert(Cow::Borrowed(Field::REGION.name()), serde_json::Value::from(c.region));
    } else if rng.chance(0.3) {
        // Some records carry a region without an address (set by hand, or from a form).
        custom.insert(Cow::Borrowed(Field::REGION.name()), serde_json::Value::from(*rng.pick(REGIONS)));
    }
    let score = rng.below(10_001) as f64 / 100.0;
    if rng.chance(0.85) {
        custom.insert(Cow::Borrowed(Field::SCORE.name()), serde_json::Value::from(score));
    }
    if r.sobject == SObject::Contact {
        let tier = rng.below(100);
        let tier = match tier {
            0..15 => Some(TIERS[0]),
            15..50 => Some(TIERS[1]),
            50..90 => Some(TIERS[2]),
            _ => None,
        };
        if let Some(t) = tier {
            custom.insert(Cow::Borrowed(Field::TIER.name()), serde_json::Value::from(t));
        }
    }
    if let Some(note) = maybe(rng, 0.08, NOTES) {
        custom.insert(Cow::Borrowed(Field::NOTES.name()), serde_json::Value::from(note.into_owned()));
    }
    let secret = rng.below(1_000_000);
    if rng.chance(0.3) {
        custom.insert(Cow::Borrowed(Field::SECRET.name()), serde_json::Value::from(format!("SEC-{secret:06}")));
    }
    r.custom = custom;
}

/// `james.smith12@example.com` → `James.Smith12@Example.com`.
fn title_case_email(e: &str) -> String {
    let mut out = String::with_capacity(e.len());
    let mut capital = true;
    let mut in_domain = false;
    for c in e.chars() {
        if capital {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        capital = (!in_domain && c == '.') || c == '@';
        in_domain |= c == '@';
    }
    out
}

/// The three syntax problems Salesforce's Email validation lets through.
fn malformed(e: &str, kind: u64) -> String {
    let Some((local, domain)) = e.split_once('@') else {
        return e.to_owned();
    };
    match kind {
        // Consecutive dots in the local part.
        0 => match local.split_once('.') {
            Some((a, b)) => format!("{a}..{b}@{domain}"),
            None => format!("{local}..x@{domain}"),
        },
        // A trailing dot in the local part.
        1 => format!("{local}.@{domain}"),
        // No top-level domain.
        _ => format!("{local}@{}", NO_TLD_DOMAINS[domain.len() % NO_TLD_DOMAINS.len()]),
    }
}

/// Orgs with at least this many Contacts (and half as many Leads) always carry one address of
/// each malformation and each kind of duplicate; tiny test orgs only get the random share.
const GUARANTEED_VARIETY_MIN: usize = 40;

/// The first index from `start` on (wrapping) that passes `ok`.
fn find_from(len: usize, start: usize, ok: impl Fn(usize) -> bool) -> Option<usize> {
    (0..len).map(|d| (start + d) % len).find(|i| ok(*i))
}

/// Email variety for list exclusions, applied to records that already have an address (so the
/// counts of records with and without one, opted out, bounced and deleted stay as they were):
/// the SES mailbox simulator on three Contacts, ~0.5 % malformed-but-accepted addresses, and
/// duplicates within and across objects, some in another case.
fn vary_emails(contacts: &mut [Record], leads: &mut [Record], rng: &mut Rng) {
    let (n, m) = (contacts.len(), leads.len());
    let mut fixed_c = vec![false; n];
    let mut fixed_l = vec![false; m];
    let sendable = |r: &Record| r.email.is_some() && !r.is_deleted && !r.has_opted_out_of_email && !r.is_email_bounced;
    for (k, addr) in SES_SIMULATOR_ADDRESSES.iter().enumerate() {
        if let Some(i) = find_from(n, n * (2 * k + 1) / 6, |i| !fixed_c[i] && sendable(&contacts[i])) {
            contacts[i].email = Some((*addr).to_owned());
            fixed_c[i] = true;
        }
    }
    // One of each malformation in every org big enough, then ~0.5 % more at random.
    for kind in (0..3u64).filter(|_| n >= GUARANTEED_VARIETY_MIN) {
        let start = n * (2 * kind as usize + 1) / 8;
        if let Some(i) = find_from(n, start, |i| !fixed_c[i] && contacts[i].email.is_some()) {
            contacts[i].email = contacts[i].email.as_deref().map(|e| malformed(e, kind));
            fixed_c[i] = true;
        }
    }
    for (records, fixed) in [(&mut *contacts, &mut fixed_c), (&mut *leads, &mut fixed_l)] {
        for (r, fixed) in records.iter_mut().zip(fixed.iter_mut()) {
            if *fixed || r.email.is_none() || !rng.chance(0.005) {
                continue;
            }
            let kind = rng.below(3);
            r.email = r.email.as_deref().map(|e| malformed(e, kind));
            *fixed = true;
        }
    }
    // Guaranteed duplicates: a Contact pair differing only in case, a Lead with a Contact's
    // address (exactly), a Lead with a Contact's address in upper case, a Lead pair.
    let pairs: [(bool, usize, bool, usize, u8); 4] = [
        (true, n / 4, true, n * 7 / 8, 1),
        (true, n / 3, false, m / 2, 0),
        (true, n * 2 / 3, false, m / 4, 2),
        (false, m / 8, false, m * 3 / 4, 0),
    ];
    for (from_contact, from, to_contact, to, case) in pairs {
        let big_enough =
            |contact: bool| if contact { n >= GUARANTEED_VARIETY_MIN } else { m >= GUARANTEED_VARIETY_MIN / 2 };
        if !big_enough(from_contact) || !big_enough(to_contact) {
            continue;
        }
        let source = {
            let (records, fixed) = if from_contact { (&*contacts, &fixed_c) } else { (&*leads, &fixed_l) };
            find_from(records.len(), from, |i| !fixed[i] && records[i].email.is_some())
                .and_then(|i| records[i].email.clone().map(|e| (i, e)))
        };
        let Some((s, email)) = source else {
            continue;
        };
        // The source keeps its address: no later change may undo the duplicate.
        if from_contact {
            fixed_c[s] = true;
        } else {
            fixed_l[s] = true;
        }
        let email = match case {
            1 => title_case_email(&email),
            2 => email.to_uppercase(),
            _ => email,
        };
        let (records, fixed) = if to_contact { (&mut *contacts, &mut fixed_c) } else { (&mut *leads, &mut fixed_l) };
        if let Some(d) = find_from(records.len(), to, |i| !fixed[i] && records[i].email.is_some()) {
            records[d].email = Some(email);
            fixed[d] = true;
        }
    }
    // And a sprinkle at random: within Contacts, Leads copying Contacts, within Leads.
    let contact_emails: Vec<usize> = (0..n).filter(|i| !fixed_c[*i] && contacts[*i].email.is_some()).collect();
    for i in 0..n {
        if fixed_c[i] || contacts[i].email.is_none() || !rng.chance(0.004) {
            continue;
        }
        let earlier = contact_emails.partition_point(|j| *j < i);
        if earlier > 0 {
            let j = contact_emails[rng.below(earlier as u64) as usize];
            let e = contacts[j].email.clone().unwrap_or_default();
            contacts[i].email = Some(if rng.chance(0.5) { title_case_email(&e) } else { e });
            fixed_c[i] = true;
        }
    }
    for i in 0..m {
        if fixed_l[i] || leads[i].email.is_none() {
            continue;
        }
        if !contact_emails.is_empty() && rng.chance(0.006) {
            let j = contact_emails[rng.below(contact_emails.len() as u64) as usize];
            let e = contacts[j].email.clone().unwrap_or_default();
            leads[i].email = Some(if rng.chance(0.5) { e.to_uppercase() } else { e });
            fixed_l[i] = true;
        } else if i > 0 && rng.chance(0.003) {
            let j = rng.below(i as u64) as usize;
            if let Some(e) = leads[j].email.clone().filter(|_| !fixed_l[j]) {
                leads[i].email = Some(e);
                fixed_l[i] = true;
            }
        }
    }
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
        first_name,
        last_name: (*last).to_owned(),
        email,
        has_opted_out_of_email: opted_out,
        is_email_bounced: bounced,
        email_bounced_reason: reason,
        email_bounced_date: bounce_date,
        last_modified_date: SfDateTime(modstamp),
        system_modstamp: SfDateTime(modstamp),
        is_deleted: deleted,
        deleted_date,
        company,
        status,
        is_converted: converted,
        // Owner and the other later fields come from `add_fields`.
        ..blank_record(id, obj, SfDateTime(created), id)
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
    fn new_fields_are_realistic_and_deterministic() {
        let cfg = SimConfig::default().with_records(4000, 2000);
        let anchor = SfDateTime(1_780_000_000);
        let a = generate(&cfg, &org(), anchor);
        let b = generate(&cfg, &org(), anchor);
        assert_eq!(a.accounts, b.accounts);
        assert_eq!(a.accounts.len(), 500, "one account per 8 contacts");
        assert!(a.accounts.windows(2).all(|w| w[0].id < w[1].id));
        let other = generate(&cfg.clone().with_seed(7), &org(), anchor);
        assert_ne!(a.contacts.records()[0].custom, other.contacts.records()[0].custom);

        let c = a.contacts.records();
        let share = |n: usize| n * 100 / c.len();
        let by_owner = |first: &str| {
            let id = a.users.iter().find(|u| u.first_name == first).map(|u| u.id);
            share(c.iter().filter(|r| Some(r.owner_id) == id).count())
        };
        assert!((45..=55).contains(&by_owner("Ada")), "{}", by_owner("Ada"));
        assert!((25..=35).contains(&by_owner("Grace")), "{}", by_owner("Grace"));
        assert!((15..=25).contains(&by_owner("Katherine")), "{}", by_owner("Katherine"));
        assert_eq!(by_owner("Alan") + by_owner("Outpost"), 0, "inactive and integration users own nothing");
        let no_account = share(c.iter().filter(|r| r.account_id.is_none()).count());
        assert!((6..=14).contains(&no_account), "{no_account}");
        assert!(c.iter().filter_map(|r| r.account_id).all(|id| a.account(&id).is_some()));
        let us = c.iter().filter(|r| r.mailing_country.as_deref() == Some("United States")).count();
        assert!((30..=45).contains(&share(us)), "{}", share(us));
        assert!(c.iter().any(|r| r.mailing_country.is_none()) && c.iter().any(|r| r.title.is_none()));
        for r in c.iter().filter(|r| r.mailing_country.as_deref() == Some("Germany")) {
            assert_eq!(r.custom.get("Region__c").and_then(|v| v.as_str()), Some("EMEA"));
        }
        let l = a.leads.records();
        assert!(
            l.iter().all(|r| r.account_id.is_none() && r.mailing_city.is_none() && !r.custom.contains_key("Tier__c"))
        );
        assert!(
            l.iter().any(|r| r.industry.as_deref() == Some("Healthcare") && r.country.is_some() && r.city.is_some())
        );
        for r in c.iter().chain(l) {
            if let Some(score) = r.custom.get("Score__c") {
                let score = score.as_f64().unwrap_or(-1.0);
                let cents = score * 100.0;
                assert!((0.0..=100.0).contains(&score) && (cents.round() - cents).abs() < 1e-6, "{score}");
            }
        }
    }

    #[test]
    fn email_variety_is_there_and_leaves_the_counts_alone() {
        let cfg = SimConfig::default();
        let db = generate(&cfg, &org(), SfDateTime(1_780_000_000));
        let c = db.contacts.records();
        let l = db.leads.records();
        for addr in SES_SIMULATOR_ADDRESSES {
            let hits: Vec<&Record> = c.iter().filter(|r| r.email.as_deref() == Some(addr)).collect();
            assert_eq!(hits.len(), 1, "{addr}");
            let r = hits[0];
            assert!(!r.is_deleted && !r.has_opted_out_of_email && !r.is_email_bounced, "{r:?}");
        }
        let emails = |rs: &[Record]| rs.iter().filter_map(|r| r.email.clone()).collect::<Vec<_>>();
        let (ce, le) = (emails(c), emails(l));
        assert!(ce.iter().any(|e| e.contains("..")), "consecutive dots");
        assert!(ce.iter().any(|e| e.contains(".@")), "trailing dot");
        assert!(ce.iter().any(|e| e.split_once('@').is_some_and(|(_, d)| !d.contains('.'))), "no TLD");
        let lower = |e: &String| e.to_lowercase();
        let across = le.iter().filter(|e| ce.iter().any(|x| lower(x) == lower(e))).count();
        assert!(across >= 2, "{across}");
        let cased = ce.iter().enumerate().any(|(i, e)| ce[..i].iter().any(|x| x != e && lower(x) == lower(e)));
        assert!(cased, "a Contact pair differing only in case");
        let within_leads = le.iter().enumerate().any(|(i, e)| le[..i].iter().any(|x| lower(x) == lower(e)));
        assert!(within_leads);
        // Variety only rewrites existing addresses.
        let plain = SimConfig::default().with_records(0, 0);
        assert!(generate(&plain, &org(), SfDateTime(1_780_000_000)).contacts.records().is_empty());
        assert_eq!(c.iter().filter(|r| r.email.is_none()).count(), 3, "seed 42: as before the variety");
        let tiny = generate(&SimConfig::default().with_records(5, 5), &org(), SfDateTime(1_780_000_000));
        let ses = tiny
            .contacts
            .records()
            .iter()
            .filter(|r| r.email.as_deref().is_some_and(|e| e.contains("amazonses")))
            .count();
        assert_eq!(ses, 3, "even a five-contact org carries the simulator addresses");
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
