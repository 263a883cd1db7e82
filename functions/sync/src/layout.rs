//! Query rows of Contacts and Leads read by their layout. Salesforce writes each row compactly:
//! `attributes` first, then the selected fields in the SELECT's order. Rows that keep to that
//! layout are read in about half the time serde takes, because no key has to be looked up. Any
//! other page is left to serde, which reads the same records from every page this reader accepts.

use std::borrow::Cow;

use outpost_shared::ids::{RecipientObject, RecordId};
use outpost_shared::salesforce::SfDateTime;

use crate::records::{SyncRecord, fields};

/// The records of `rows` (a page from its first row on), or `None` when serde must read the page.
pub fn records(rows: &str, object: RecipientObject) -> Option<Vec<SyncRecord<'_>>> {
    let keys: Vec<String> = fields(object).iter().map(|name| format!(",\"{name}\":")).collect();
    let mut layout = Layout { text: rows, at: 0 };
    // Room for every row the page can hold, so that a page's records never move as they grow.
    let mut records = Vec::with_capacity(rows.len() / SHORTEST_ROW_BYTES + 1);
    loop {
        records.push(layout.row(&keys)?);
        if layout.literal("]").is_some() {
            break;
        }
        layout.literal(",")?;
    }
    // Only the page's closing brace may follow; a field after the records (which serde might
    // refuse as a repeat) sends the page to serde.
    let rest = layout.text[layout.at..].trim_matches([' ', '\t', '\n', '\r']);
    (rest == "}").then_some(records)
}

/// No row in this layout is shorter: its attributes, its keys and their shortest values.
const SHORTEST_ROW_BYTES: usize = 200;

struct Layout<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Layout<'a> {
    fn literal(&mut self, expected: &str) -> Option<()> {
        self.text[self.at..].starts_with(expected).then(|| self.at += expected.len())
    }

    /// A string with nothing to unescape (serde borrows those too).
    fn text(&mut self) -> Option<&'a str> {
        self.literal("\"")?;
        let rest = &self.text.as_bytes()[self.at..];
        // A backslash needs unescaping, and JSON allows no raw control character: serde's case.
        let length = string_end(rest)?;
        (rest[length] == b'"').then_some(())?;
        let text = &self.text[self.at..self.at + length];
        self.at += length + 1;
        Some(text)
    }

    fn next_byte(&self) -> Option<u8> {
        self.text.as_bytes().get(self.at).copied()
    }

    fn null(&mut self) -> Option<bool> {
        if self.next_byte()? == b'n' { self.literal("null").map(|()| true) } else { Some(false) }
    }

    fn optional_text(&mut self) -> Option<Option<Cow<'a, str>>> {
        if self.null()? { Some(None) } else { self.text().map(|text| Some(Cow::Borrowed(text))) }
    }

    fn optional_flag(&mut self) -> Option<Option<bool>> {
        match self.next_byte()? {
            b'n' => self.literal("null").map(|()| None),
            b't' => self.literal("true").map(|()| Some(true)),
            _ => self.literal("false").map(|()| Some(false)),
        }
    }

    fn datetime(&mut self) -> Option<SfDateTime> {
        self.text().and_then(|text| SfDateTime::parse(text).ok())
    }

    /// `key` (there must be one), then its value as `value` reads it.
    fn field<T>(&mut self, key: Option<&str>, value: impl FnOnce(&mut Self) -> Option<T>) -> Option<T> {
        self.literal(key?)?;
        value(self)
    }

    /// One row, with `keys` (`,"Name":` for each of [`fields`]) in order.
    fn row(&mut self, keys: &[String]) -> Option<SyncRecord<'a>> {
        self.literal(r#"{"attributes":{"type":"#)?;
        self.text()?;
        self.literal(r#","url":"#)?;
        self.text()?;
        self.literal("}")?;
        // The fields in the order of `FIELDS`: Id, the names and email, the two flags, the bounce
        // reason and date, SystemModstamp, IsDeleted, then IsConverted for a Lead.
        let mut keys = keys.iter().map(String::as_str);
        let id = self.field(keys.next(), |layout| RecordId::parse(layout.text()?).ok())?;
        let first_name = self.field(keys.next(), Self::optional_text)?;
        let last_name = self.field(keys.next(), Self::optional_text)?;
        let email = self.field(keys.next(), Self::optional_text)?;
        let opted_out = self.field(keys.next(), Self::optional_flag)?;
        let bounced = self.field(keys.next(), Self::optional_flag)?;
        let bounce_reason = self.field(keys.next(), Self::optional_text)?;
        let bounced_at =
            self.field(keys.next(), |layout| if layout.null()? { Some(None) } else { layout.datetime().map(Some) })?;
        let modstamp = self.field(keys.next(), Self::datetime)?;
        let deleted = self.field(keys.next(), Self::optional_flag)?;
        let converted = match keys.next() {
            Some(key) => self.field(Some(key), Self::optional_flag)?,
            None => None,
        };
        self.literal("}")?;
        Some(SyncRecord {
            id,
            first_name,
            last_name,
            email,
            opted_out,
            bounced,
            bounce_reason,
            bounced_at,
            modstamp,
            deleted,
            converted,
        })
    }
}

/// Where the first `"`, `\` or control character of `bytes` is: eight bytes at a time, as a
/// page's strings (ids, urls, emails) are mostly longer than that.
fn string_end(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    // The high bit of each byte of `word` below `limit` (< 0x80). A false mark can only follow a
    // true one in memory order, so the first mark is exact.
    let below = |word: u64, limit: u8| word.wrapping_sub(ONES * u64::from(limit)) & !word & HIGHS;
    let mut words = bytes.chunks_exact(8);
    let mut at = 0;
    for chunk in words.by_ref() {
        let mut eight = [0u8; 8];
        eight.copy_from_slice(chunk);
        let word = u64::from_le_bytes(eight);
        let marks =
            below(word ^ (ONES * u64::from(b'"')), 1) | below(word ^ (ONES * u64::from(b'\\')), 1) | below(word, 0x20);
        if marks != 0 {
            return Some(at + marks.trailing_zeros() as usize / 8);
        }
        at += 8;
    }
    let tail = words.remainder().iter().position(|&byte| byte == b'"' || byte == b'\\' || byte < 0x20)?;
    Some(at + tail)
}

#[cfg(test)]
mod tests {
    use outpost_shared::salesforce::{FetchedPage, QueryPage};

    use salesforce_sim::data::Rng;

    use super::*;
    use crate::records::page_records;

    /// A value Salesforce could send for `field`, then values that break the layout or that
    /// serde refuses.
    fn value(dice: &mut Rng, field: &str, object: RecipientObject) -> (&'static str, bool) {
        let usual: &[&str] = match field {
            "Id" if object == RecipientObject::Lead => &[r#""00Qq000000KvQ1tEAF""#, r#""00Qq000000KvQ1uEAF""#],
            "Id" => &[r#""003q000000KvQ1tAAF""#, r#""003q000000KvQ1t""#],
            "FirstName" | "LastName" | "Email" | "EmailBouncedReason" => &["null", r#""Ada""#, r#""Zoë""#, r#""""#],
            "EmailBouncedDate" => &["null", r#""2026-01-02T03:04:05.000+0000""#],
            "SystemModstamp" => &[r#""2026-01-02T03:04:05.000+0000""#, r#""2026-11-29T00:00:00.000Z""#],
            _ => &["true", "false", "null"],
        };
        if dice.below(25) != 0 {
            return (*dice.pick(usual), true);
        }
        let unusual = *dice.pick(&[
            r#""O\"Brien""#,
            r#""\u00e9""#,
            "\"raw\u{1}control\"",
            r#""bad\q""#,
            r#""2026-13-02T03:04:05.000+0000""#,
            r#""003q000000KvQ1tAAF""#,
            r#""xyz""#,
            "null",
            "true",
            "1",
            "1.5",
            "{}",
            "[]",
            r#""true""#,
            " null",
        ]);
        (unusual, false)
    }

    /// A page of `object` rows; `true` when it keeps to Salesforce's layout throughout.
    fn page(dice: &mut Rng, object: RecipientObject) -> (String, bool) {
        let mut pristine = true;
        let mut rows = Vec::new();
        for _ in 0..=dice.below(3) {
            let mut members = vec![(*dice.pick(&[
                r#""attributes":{"type":"Contact","url":"/services/data/v66.0/sobjects/Contact/003q000000KvQ1tAAF"}"#,
                r#""attributes":{"type":"Lead","url":"/services/data/v66.0/sobjects/Lead/00Qq000000KvQ1tEAF"}"#,
            ]))
            .to_owned()];
            for field in fields(object) {
                let (value, usual) = value(dice, field, object);
                pristine &= usual;
                members.push(format!(r#""{field}":{value}"#));
            }
            // Now and then a row breaks the layout: an extra, repeated, swapped or missing field,
            // a Lead's field in a Contact, odd attributes, a space.
            let mutation = dice.below(60);
            match mutation {
                0 => members.push(r#""Other":[1,{"a":null}]"#.into()),
                1 => members.push(members[2].clone()),
                2 => members.swap(3, 4),
                3 => drop(members.remove(1)),
                4 => members.push(r#""IsConverted":true"#.into()),
                5 => members[0] = r#""attributes":{"type":"Lead","url":"/a/b","extra":1}"#.into(),
                6 => members[1] = members[1].replace(':', ": "),
                _ => {}
            }
            pristine &= mutation > 6;
            rows.push(format!("{{{}}}", members.join(",")));
        }
        let separator = if dice.below(40) == 0 { ", " } else { "," };
        let header = *dice.pick(&[
            r#""totalSize":5000,"done":false,"nextRecordsUrl":"/services/data/v66.0/query/01gxx-2000","#,
            r#""totalSize":5000,"done":true,"#,
            r#""totalSize":5000,"done":true,"nextRecordsUrl":null,"#,
        ]);
        let tail = if dice.below(20) == 0 {
            *dice.pick(&["]}x", "]", r#"],"done":true}"#, r#"],"extra":1}"#])
        } else {
            "] }\n"
        };
        pristine &= separator == "," && tail == "] }\n";
        (format!(r#"{{{header}"records":[{}{tail}"#, rows.join(separator)), pristine)
    }

    #[test]
    fn a_string_ends_at_its_first_quote_backslash_or_control_character() {
        let plain = |bytes: &[u8]| bytes.iter().position(|&byte| byte == b'"' || byte == b'\\' || byte < 0x20);
        // Every byte value at every place of a word and of the tail, after ordinary text and
        // after bytes next to the ones searched for (0x21, 0x5b, 0x5d) and UTF-8 bytes.
        for len in 0..=19 {
            for at in 0..len {
                for byte in 0..=255u8 {
                    for filler in [b'a', 0x21, 0x5b, 0x5d, 0xc3, 0x80, 0xff] {
                        let mut bytes = vec![filler; len];
                        bytes[at] = byte;
                        assert_eq!(string_end(&bytes), plain(&bytes), "{bytes:?}");
                    }
                }
            }
        }
        let mut dice = Rng::new(7);
        for _ in 0..20_000 {
            let bytes: Vec<u8> =
                (0..dice.below(40)).map(|_| *dice.pick(&[b'a', b'"', b'\\', 0x1f, 0x20, 0xe2, 0x00, 0x7f])).collect();
            assert_eq!(string_end(&bytes), plain(&bytes), "{bytes:?}");
        }
    }

    #[test]
    fn reads_what_serde_reads_from_every_page_it_accepts() {
        let mut dice = Rng::new(0x9e37_79b9_7f4a_7c15);
        let (mut by_layout, mut by_serde) = (0, 0);
        for round in 0..20_000 {
            let object = if round % 2 == 0 { RecipientObject::Contact } else { RecipientObject::Lead };
            let (body, pristine) = page(&mut dice, object);
            let expected = QueryPage::<SyncRecord>::from_text(&body).ok().map(|page| page.records);
            let Ok(page) = FetchedPage::from_body(body.clone()) else {
                assert_eq!(expected, None, "{body}");
                continue;
            };
            let read = page.rows().and_then(|rows| records(rows, object));
            assert!(read.is_some() || !pristine, "a page in Salesforce's layout went to serde: {body}");
            if read.is_some() {
                by_layout += 1;
                assert_eq!(read, expected, "{body}");
            } else {
                by_serde += 1;
            }
            assert_eq!(page_records(&page, object).ok(), expected, "{body}");
        }
        assert!(by_layout > 5_000 && by_serde > 5_000, "{by_layout} by layout, {by_serde} by serde");
    }

    #[test]
    fn the_sync_selects_the_fields_in_the_order_the_layout_reads_them() {
        assert!(crate::records::changes_after(RecipientObject::Lead, None).starts_with(
            "SELECT Id, FirstName, LastName, Email, HasOptedOutOfEmail, IsEmailBounced, EmailBouncedReason, \
             EmailBouncedDate, SystemModstamp, IsDeleted, IsConverted FROM Lead"
        ));
    }
}
