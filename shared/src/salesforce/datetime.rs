//! Salesforce datetimes: REST answers `2011-07-07T00:37:00.000+0000` (no colon), Apex JSON
//! answers `…Z`, SOQL wants unquoted `2011-07-07T00:37:00Z`. Held as UTC milliseconds.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::format_description::BorrowedFormatItem;
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime, UtcOffset};

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
        parse(input).ok_or_else(|| DateTimeError(input.chars().take(40).collect()))
    }

    /// Parses a calendar date `YYYY-MM-DD` as its midnight, UTC.
    pub fn parse_date(input: &str) -> Result<Self, DateTimeError> {
        time::Date::parse(input, DATE)
            .map(|date| Self::from(date.midnight().assume_utc()))
            .map_err(|_| DateTimeError(input.chars().take(40).collect()))
    }

    /// A calendar date (as its midnight, UTC) or a datetime, whichever `input` is.
    pub fn parse_date_or_datetime(input: &str) -> Result<Self, DateTimeError> {
        if input.len() == 10 { Self::parse_date(input) } else { Self::parse(input) }
    }

    /// The UTC calendar date: `2011-07-07`.
    pub fn date(self) -> String {
        let t = self.offset_date_time();
        format!("{:04}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day())
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

/// A calendar date.
const DATE: &[BorrowedFormatItem<'_>] = format_description!("[year]-[month]-[day]");
/// The date and time of day, before the zone: seconds, then an optional fraction of any length.
const LOCAL: &[BorrowedFormatItem<'_>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second][optional [.[subsecond]]]");
/// A numeric zone: `+0000` (REST) or `+00:00` (ISO 8601).
const OFFSET: &[BorrowedFormatItem<'_>] =
    format_description!("[offset_hour sign:mandatory][optional [:]][offset_minute]");

/// `YYYY-MM-DDTHH:MM:SS[.fff…](Z|±HHMM|±HH:MM)`, through `time`'s parsers; finer digits than
/// milliseconds are truncated.
fn parse(input: &str) -> Option<SfDateTime> {
    // The zone starts at the first `Z`, `+` or `-` after the date's own dashes.
    let zone_at = input.get(10..)?.find(['Z', '+', '-'])? + 10;
    let (local, zone) = input.split_at(zone_at);
    let offset = match zone {
        "Z" => UtcOffset::UTC,
        _ => UtcOffset::parse(zone, OFFSET).ok()?,
    };
    let local = PrimitiveDateTime::parse(local, LOCAL).ok()?;
    let instant = local.assume_offset(offset);
    let millis = instant.unix_timestamp() * 1000 + i64::from(instant.millisecond());
    Some(SfDateTime::from_millis(millis))
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
    fn reads_calendar_dates_as_their_utc_midnight() {
        let day = SfDateTime::parse_date("2024-02-29").unwrap();
        assert_eq!(day, SfDateTime::parse("2024-02-29T00:00:00Z").unwrap());
        assert_eq!(day.date(), "2024-02-29");
        assert_eq!(SfDateTime::parse_date_or_datetime("2024-02-29").unwrap(), day);
        assert_eq!(SfDateTime::parse_date_or_datetime("2024-02-29T00:00:00Z").unwrap(), day);
        for bad in ["2023-02-29", "2024-2-29", "29/02/2024", ""] {
            assert!(SfDateTime::parse_date_or_datetime(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn keeps_milliseconds() {
        assert_eq!(SfDateTime::parse("1970-01-01T00:00:00.1234567Z").unwrap().millis(), 123);
        assert_eq!(SfDateTime::parse("1969-12-31T23:59:59.5Z").unwrap().millis(), -500);
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
            "2011-07-07T00:37:00+2600",
            "2011-07-07T00:37:00+14",
            "2011-07-07T00:37:00z",
            "0000-01-01T00:00:00Zextra",
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
