//! Salesforce datetimes: REST answers `2011-07-07T00:37:00.000+0000` (no colon), Apex JSON
//! answers `…Z`, SOQL wants unquoted `2011-07-07T00:37:00Z`. Held as UTC milliseconds.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::OffsetDateTime;

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
    let year = digits(&b[0..4])?;
    let month = digits(&b[5..7])?;
    let day = digits(&b[8..10])?;
    let hour = digits(&b[11..13])?;
    let minute = digits(&b[14..16])?;
    let second = digits(&b[17..19])?;
    let mut rest = &b[19..];
    let mut millis = 0;
    if let Some((b'.', tail)) = rest.split_first() {
        let len = tail.iter().take_while(|c| c.is_ascii_digit()).count();
        if len == 0 {
            return None;
        }
        // Keep milliseconds; finer digits are truncated.
        millis = digits(&tail[..len.min(3)])? * 10u32.pow(3 - len.min(3) as u32);
        rest = &tail[len..];
    }
    let offset_seconds: i64 = match rest {
        b"Z" => 0,
        [sign @ (b'+' | b'-'), h1, h2, m1, m2] | [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let magnitude = i64::from(digits(&[*h1, *h2])? * 3600 + digits(&[*m1, *m2])? * 60);
            if *sign == b'-' { -magnitude } else { magnitude }
        }
        _ => return None,
    };
    // The ranges `time` checks; a sync parses two of these per record, so the instant is
    // computed here rather than through `time`'s types.
    let valid = (1..=12).contains(&month)
        && (1..=days_in_month(year, month)).contains(&day)
        && hour < 24
        && minute < 60
        && second < 60
        && offset_seconds.abs() <= MAX_OFFSET_SECONDS;
    if !valid {
        return None;
    }
    let seconds = days_from_civil(year, month, day) * 86_400 + i64::from(hour * 3600 + minute * 60 + second);
    Some(SfDateTime::from_millis((seconds - offset_seconds) * 1000 + i64::from(millis)))
}

/// The largest UTC offset `time` accepts: 25:59:59.
const MAX_OFFSET_SECONDS: i64 = 93_599;

fn days_in_month(year: u32, month: u32) -> u32 {
    let leap = year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400));
    match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to a date of the proleptic Gregorian calendar, for years 0 to 9999
/// (H. Hinnant's `days_from_civil`: years begin in March, so a leap day ends one).
fn days_from_civil(year: u32, month: u32, day: u32) -> i64 {
    let year = i64::from(year) - i64::from(month <= 2);
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * i64::from((month + 9) % 12) + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
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

    fn old_digits(bytes: &[u8]) -> Option<u32> {
        bytes.iter().try_fold(0u32, |acc, b| b.is_ascii_digit().then(|| acc * 10 + u32::from(b - b'0')))
    }

    /// The parser as it was before it computed the instant itself, through `time`'s types.
    fn parsed_by_time(b: &[u8]) -> Option<SfDateTime> {
        use time::{Date, Month, PrimitiveDateTime, Time, UtcOffset};
        if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' {
            return None;
        }
        let year = i32::try_from(old_digits(&b[0..4])?).ok()?;
        let month = Month::try_from(u8::try_from(old_digits(&b[5..7])?).ok()?).ok()?;
        let day = u8::try_from(old_digits(&b[8..10])?).ok()?;
        let hour = u8::try_from(old_digits(&b[11..13])?).ok()?;
        let minute = u8::try_from(old_digits(&b[14..16])?).ok()?;
        let second = u8::try_from(old_digits(&b[17..19])?).ok()?;
        let mut rest = &b[19..];
        let mut millis = 0u16;
        if let Some((b'.', tail)) = rest.split_first() {
            let len = tail.iter().take_while(|c| c.is_ascii_digit()).count();
            if len == 0 {
                return None;
            }
            // Keep milliseconds; finer digits are truncated.
            let mut ms = old_digits(&tail[..len.min(3)])?;
            for _ in len.min(3)..3 {
                ms *= 10;
            }
            millis = u16::try_from(ms).ok()?;
            rest = &tail[len..];
        }
        let offset_seconds: i32 = match rest {
            b"Z" => 0,
            [sign @ (b'+' | b'-'), h1, h2, m1, m2] | [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
                let hours = i32::try_from(old_digits(&[*h1, *h2])?).ok()?;
                let minutes = i32::try_from(old_digits(&[*m1, *m2])?).ok()?;
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

    #[test]
    fn computes_the_instant_time_computes_at_every_edge() {
        let mut inputs = Vec::new();
        for year in ["0000", "0001", "0100", "0400", "1600", "1900", "1969", "1970", "2000", "2024", "2100", "9999"] {
            for month in ["00", "01", "02", "03", "04", "06", "09", "11", "12", "13"] {
                for day in ["00", "01", "28", "29", "30", "31", "32"] {
                    inputs.push(format!("{year}-{month}-{day}T00:00:00Z"));
                }
            }
        }
        for clock in ["00:00:00", "23:59:59", "24:00:00", "12:60:00", "12:00:60", "99:99:99"] {
            for fraction in ["", ".", ".1", ".12", ".123", ".1234567", ".999"] {
                for zone in
                    ["Z", "+0000", "-0000", "+2559", "-2559", "+2600", "+0099", "-2599", "+14:00", "+5", "z", ""]
                {
                    inputs.push(format!("2024-02-29T{clock}{fraction}{zone}"));
                    inputs.push(format!("1969-12-31T{clock}{fraction}{zone}"));
                }
            }
        }
        inputs.extend(["2024-0a-01T00:00:00Z", "2024-01-01T00:00:0aZ", "+024-01-01T00:00:00Z"].map(String::from));
        // And every part drawn at random across its range and a little past it.
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut below = |bound: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % bound
        };
        for _ in 0..20_000 {
            let (year, month, day) = (below(10_000), below(14), below(33));
            let (hour, minute, second, millis) = (below(26), below(62), below(62), below(1000));
            let zone = match below(3) {
                0 => "Z".to_owned(),
                1 => format!("+{:02}{:02}", below(27), below(100)),
                _ => format!("-{:02}:{:02}", below(27), below(60)),
            };
            inputs.push(format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}.{millis:03}{zone}"));
        }
        for input in &inputs {
            assert_eq!(parse(input.as_bytes()), parsed_by_time(input.as_bytes()), "{input:?}");
        }
        let valid = inputs.iter().filter(|input| parse(input.as_bytes()).is_some()).count();
        assert!(valid > 10_000, "only {valid} of the inputs parse");
    }

    #[test]
    fn serde_uses_the_rest_form() {
        let t: SfDateTime = serde_json::from_str("\"2011-07-07T00:37:00.000Z\"").unwrap();
        assert_eq!(serde_json::to_string(&t).unwrap(), "\"2011-07-07T00:37:00.000+0000\"");
    }
}
