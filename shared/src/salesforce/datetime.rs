//! Salesforce datetimes: REST answers `2011-07-07T00:37:00.000+0000` (no colon), Apex JSON
//! answers `…Z`, SOQL wants unquoted `2011-07-07T00:37:00Z`. Held as UTC milliseconds.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

/// A point in time with millisecond precision, as Salesforce stores it.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct SfDateTime {
    millis: i64,
}

/// A datetime string that is not in a form Salesforce produces.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a Salesforce datetime: {0:?}")]
pub struct DateTimeError(String);

impl SfDateTime {
    /// The earliest representable instant (a cursor that has seen nothing).
    pub const EPOCH: SfDateTime = SfDateTime { millis: 0 };

    /// From milliseconds since the Unix epoch.
    pub const fn from_millis(millis: i64) -> Self {
        Self { millis }
    }

    /// Milliseconds since the Unix epoch.
    pub const fn millis(self) -> i64 {
        self.millis
    }

    /// The current time.
    pub fn now() -> Self {
        Self::from(OffsetDateTime::now_utc())
    }

    /// Parses `YYYY-MM-DDTHH:MM:SS[.fff][Z|±HHMM|±HH:MM]`.
    pub fn parse(input: &str) -> Result<Self, DateTimeError> {
        parse(input.as_bytes()).ok_or_else(|| DateTimeError(input.chars().take(40).collect()))
    }

    /// The unquoted SOQL literal, whole seconds in UTC: `2011-07-07T00:37:00Z`.
    pub fn soql_literal(self) -> String {
        self.whole_seconds("Z")
    }

    /// ISO 8601 with an explicit offset, as getDeleted's `start`/`end` want: `…+00:00`.
    pub fn iso8601(self) -> String {
        self.whole_seconds("+00:00")
    }

    /// `YYYY-MM-DDTHH:MM:SS` in UTC followed by `zone`.
    fn whole_seconds(self, zone: &str) -> String {
        let t = self.offset_date_time();
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}{zone}",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        )
    }

    /// Adds whole seconds (negative to go back).
    pub fn plus_seconds(self, seconds: i64) -> Self {
        Self::from_millis(self.millis.saturating_add(seconds.saturating_mul(1000)))
    }

    fn offset_date_time(self) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.millis) * 1_000_000)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }
}

impl From<OffsetDateTime> for SfDateTime {
    fn from(value: OffsetDateTime) -> Self {
        let millis = value.unix_timestamp_nanos() / 1_000_000;
        Self::from_millis(i64::try_from(millis).unwrap_or(i64::MAX))
    }
}

/// The REST form: `2011-07-07T00:37:00.000+0000`.
impl fmt::Display for SfDateTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = self.offset_date_time();
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}+0000",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second(),
            t.millisecond()
        )
    }
}

impl fmt::Debug for SfDateTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Serialize for SfDateTime {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for SfDateTime {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        crate::parsed::from_str_with(deserializer, "a Salesforce datetime", Self::parse)
    }
}

fn digits(bytes: &[u8]) -> Option<u32> {
    bytes.iter().try_fold(0u32, |acc, b| b.is_ascii_digit().then(|| acc * 10 + u32::from(b - b'0')))
}

fn parse(b: &[u8]) -> Option<SfDateTime> {
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let year = i32::try_from(digits(&b[0..4])?).ok()?;
    let month = Month::try_from(u8::try_from(digits(&b[5..7])?).ok()?).ok()?;
    let day = u8::try_from(digits(&b[8..10])?).ok()?;
    let hour = u8::try_from(digits(&b[11..13])?).ok()?;
    let minute = u8::try_from(digits(&b[14..16])?).ok()?;
    let second = u8::try_from(digits(&b[17..19])?).ok()?;
    let mut rest = &b[19..];
    let mut millis = 0u16;
    if let Some((b'.', tail)) = rest.split_first() {
        let len = tail.iter().take_while(|c| c.is_ascii_digit()).count();
        if len == 0 {
            return None;
        }
        // Keep milliseconds; finer digits are truncated.
        let mut ms = digits(&tail[..len.min(3)])?;
        for _ in len.min(3)..3 {
            ms *= 10;
        }
        millis = u16::try_from(ms).ok()?;
        rest = &tail[len..];
    }
    let offset_seconds: i32 = match rest {
        b"Z" => 0,
        [sign @ (b'+' | b'-'), h1, h2, m1, m2] | [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let hours = i32::try_from(digits(&[*h1, *h2])?).ok()?;
            let minutes = i32::try_from(digits(&[*m1, *m2])?).ok()?;
            let magnitude = hours * 3600 + minutes * 60;
            if *sign == b'-' { -magnitude } else { magnitude }
        }
        _ => return None,
    };
    let date = Date::from_calendar_date(year, month, day).ok()?;
    let time = Time::from_hms_milli(hour, minute, second, millis).ok()?;
    let offset = UtcOffset::from_whole_seconds(offset_seconds).ok()?;
    Some(SfDateTime::from(PrimitiveDateTime::new(date, time).assume_offset(offset)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_rest_form_without_a_colon_in_the_offset() {
        let t = SfDateTime::parse("2011-07-07T00:37:00.000+0000").unwrap();
        assert_eq!(t.millis(), 1_309_999_020_000);
        assert_eq!(t.to_string(), "2011-07-07T00:37:00.000+0000");
    }

    #[test]
    fn parses_apex_json_and_iso_offsets_to_the_same_instant() {
        let rest = SfDateTime::parse("2011-07-07T00:37:00.000+0000").unwrap();
        assert_eq!(SfDateTime::parse("2011-07-07T00:37:00.000Z").unwrap(), rest);
        assert_eq!(SfDateTime::parse("2011-07-07T00:37:00Z").unwrap(), rest);
        assert_eq!(SfDateTime::parse("2011-07-07T02:37:00+02:00").unwrap(), rest);
        assert_eq!(SfDateTime::parse("2011-07-06T19:37:00.000-0500").unwrap(), rest);
    }

    #[test]
    fn keeps_milliseconds() {
        let t = SfDateTime::parse("2024-02-29T23:59:59.123+0000").unwrap();
        assert_eq!(t.to_string(), "2024-02-29T23:59:59.123+0000");
        assert_eq!(t.soql_literal(), "2024-02-29T23:59:59Z");
        assert_eq!(t.iso8601(), "2024-02-29T23:59:59+00:00");
    }

    #[test]
    fn rejects_malformed_values() {
        for bad in [
            "",
            "2011-07-07",
            "2011-07-07 00:37:00Z",
            "2011-07-07T00:37:00",
            "2011-13-07T00:37:00Z",
            "2011-02-30T00:37:00Z",
            "2011-07-07T25:37:00Z",
            "2011-07-07T00:37:00.Z",
            "2011-07-07T00:37:00+000",
            "2011-07-07T00:37:00.000+0000x",
        ] {
            assert!(SfDateTime::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn serde_uses_the_rest_form() {
        let t: SfDateTime = serde_json::from_str("\"2011-07-07T00:37:00.000Z\"").unwrap();
        assert_eq!(serde_json::to_string(&t).unwrap(), "\"2011-07-07T00:37:00.000+0000\"");
    }
}
