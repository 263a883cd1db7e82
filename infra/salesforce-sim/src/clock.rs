//! The sim clock (real time plus an adjustable offset) and Salesforce's datetime and date
//! formats: REST `2011-07-07T00:37:00.000+0000`, Apex JSON and Bulk CSV `…000Z`, dates `YYYY-MM-DD`.

use std::fmt;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::OffsetDateTime;

/// A Salesforce dateTime with whole-second precision (Salesforce always renders `.000`).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct SfDateTime(pub i64);

/// A Salesforce date (days since 1970-01-01).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct SfDate(pub i32);

impl SfDateTime {
    /// Seconds since the Unix epoch.
    pub fn unix(self) -> i64 {
        self.0
    }

    /// As a `time::OffsetDateTime` in UTC.
    pub fn to_offset_datetime(self) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(self.0).unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }

    /// From a `time::OffsetDateTime` (sub-second part dropped).
    pub fn from_offset_datetime(t: OffsetDateTime) -> SfDateTime {
        SfDateTime(t.unix_timestamp())
    }

    /// REST format `YYYY-MM-DDTHH:MM:SS.000+0000`.
    pub fn rest(self) -> FmtBuf {
        self.format(b"+0000")
    }

    /// Apex JSON / Bulk CSV format `YYYY-MM-DDTHH:MM:SS.000Z`.
    pub fn zulu(self) -> FmtBuf {
        self.format(b"Z")
    }

    /// The date part.
    pub fn date(self) -> SfDate {
        SfDate(self.0.div_euclid(86_400) as i32)
    }

    /// Truncated to the minute (getUpdated/getDeleted are minute-granular).
    pub fn floor_minute(self) -> SfDateTime {
        SfDateTime(self.0 - self.0.rem_euclid(60))
    }

    /// Rounded up to the minute.
    pub fn ceil_minute(self) -> SfDateTime {
        let r = self.0.rem_euclid(60);
        if r == 0 { self } else { SfDateTime(self.0 + 60 - r) }
    }

    fn format(self, zone: &[u8]) -> FmtBuf {
        // Fixed positions and constant divisors: this runs for every dateTime on every page.
        let days = self.0.div_euclid(86_400);
        let secs = self.0.rem_euclid(86_400) as u32;
        let (y, m, d) = civil_from_days(days);
        let y = y.clamp(0, 9999) as u32;
        let mut buf = FmtBuf::default();
        let b = &mut buf.buf;
        b[0] = b'0' + (y / 1000) as u8;
        b[1] = b'0' + (y / 100 % 10) as u8;
        b[2] = b'0' + (y / 10 % 10) as u8;
        b[3] = b'0' + (y % 10) as u8;
        b[4] = b'-';
        two(&mut b[5..7], m);
        b[7] = b'-';
        two(&mut b[8..10], d);
        b[10] = b'T';
        two(&mut b[11..13], secs / 3600);
        b[13] = b':';
        two(&mut b[14..16], secs / 60 % 60);
        b[16] = b':';
        two(&mut b[17..19], secs % 60);
        b[19..23].copy_from_slice(b".000");
        let n = zone.len().min(b.len() - 23);
        b[23..23 + n].copy_from_slice(&zone[..n]);
        buf.len = 23 + n;
        buf
    }

    /// Parses ISO 8601 / Salesforce forms: `…Z`, `…+0000`, `…+00:00`, optional fraction
    /// (truncated), or a bare date (midnight UTC).
    pub fn parse(s: &str) -> Option<SfDateTime> {
        let ms = parse_datetime_ms(s)?;
        Some(SfDateTime(ms.div_euclid(1000)))
    }
}

impl fmt::Display for SfDateTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.rest().as_str())
    }
}

impl Serialize for SfDateTime {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.rest().as_str())
    }
}

impl<'de> Deserialize<'de> for SfDateTime {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        SfDateTime::parse(&s).ok_or_else(|| serde::de::Error::custom(format!("bad dateTime {s:?}")))
    }
}

impl SfDate {
    /// `YYYY-MM-DD`.
    pub fn format(self) -> FmtBuf {
        let (y, m, d) = civil_from_days(i64::from(self.0));
        let mut buf = FmtBuf::default();
        buf.push_num(y.clamp(0, 9999) as u32, 4);
        buf.push(b'-');
        buf.push_num(m, 2);
        buf.push(b'-');
        buf.push_num(d, 2);
        buf
    }

    /// Parses exactly `YYYY-MM-DD`.
    pub fn parse(s: &str) -> Option<SfDate> {
        let b = s.as_bytes();
        if b.len() != 10 {
            return None;
        }
        parse_date_prefix(b).map(|d| SfDate(d as i32))
    }
}

impl fmt::Display for SfDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.format().as_str())
    }
}

impl Serialize for SfDate {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.format().as_str())
    }
}

impl<'de> Deserialize<'de> for SfDate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        SfDate::parse(&s).ok_or_else(|| serde::de::Error::custom(format!("bad date {s:?}")))
    }
}

fn two(out: &mut [u8], n: u32) {
    out[0] = b'0' + (n / 10 % 10) as u8;
    out[1] = b'0' + (n % 10) as u8;
}

/// A stack buffer for formatted dates, so rendering a page allocates nothing per value.
#[derive(Default, Clone, Copy)]
pub struct FmtBuf {
    buf: [u8; 32],
    len: usize,
}

impl FmtBuf {
    fn push(&mut self, b: u8) {
        if self.len < self.buf.len() {
            self.buf[self.len] = b;
            self.len += 1;
        }
    }
    fn extend(&mut self, bs: &[u8]) {
        let n = bs.len().min(self.buf.len() - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&bs[..n]);
        self.len += n;
    }
    fn push_num(&mut self, n: u32, width: u32) {
        let mut digits = [0u8; 10];
        let mut v = n;
        for slot in digits.iter_mut().rev() {
            *slot = b'0' + (v % 10) as u8;
            v /= 10;
        }
        self.extend(&digits[10 - width.min(10) as usize..]);
    }
    /// The formatted text.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or_default()
    }
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// (year, month, day) → days since 1970-01-01.
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn digits(b: &[u8]) -> Option<u32> {
    if b.is_empty() || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(b.iter().fold(0u32, |a, c| a * 10 + u32::from(c - b'0')))
}

/// Parses `YYYY-MM-DD` at the start of `b` into days since the epoch.
fn parse_date_prefix(b: &[u8]) -> Option<i64> {
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let y = digits(&b[0..4])?;
    let m = digits(&b[5..7])?;
    let d = digits(&b[8..10])?;
    let dim = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        _ => return None,
    };
    if d == 0 || d > dim {
        return None;
    }
    Some(days_from_civil(i64::from(y), m, d))
}

/// Parses a datetime (or a bare date) into epoch milliseconds. Accepts `Z`, `+hhmm`,
/// `+hh:mm`, `-hh:mm` and an optional fraction of any length.
pub fn parse_datetime_ms(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let days = parse_date_prefix(b)?;
    if b.len() == 10 {
        return Some(days * 86_400_000);
    }
    if b.len() < 19 || (b[10] != b'T' && b[10] != b't') || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let h = digits(&b[11..13])?;
    let mi = digits(&b[14..16])?;
    let se = digits(&b[17..19])?;
    if h > 23 || mi > 59 || se > 60 {
        return None;
    }
    let mut rest = &b[19..];
    let mut millis = 0i64;
    if let Some(frac) = rest.strip_prefix(b".") {
        let n = frac.iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 {
            return None;
        }
        let mut scale = 100;
        for c in &frac[..n.min(3)] {
            millis += i64::from(c - b'0') * scale;
            scale /= 10;
        }
        rest = &frac[n..];
    }
    let offset_secs: i64 = match rest {
        b"Z" | b"z" => 0,
        [sign @ (b'+' | b'-'), tail @ ..] => {
            let (oh, om) = match tail {
                [a, b, b':', c, d] | [a, b, c, d] => (digits(&[*a, *b])?, digits(&[*c, *d])?),
                _ => return None,
            };
            let o = i64::from(oh * 3600 + om * 60);
            if *sign == b'+' { o } else { -o }
        }
        _ => return None,
    };
    let secs = days * 86_400 + i64::from(h * 3600 + mi * 60 + se) - offset_secs;
    Some(secs * 1000 + millis)
}

/// Real time plus an adjustable offset; every timestamp the sim hands out comes from here.
#[derive(Debug, Default)]
pub struct SimClock {
    offset_ms: AtomicI64,
}

impl SimClock {
    /// Current sim time in epoch milliseconds.
    pub fn now_ms(&self) -> i64 {
        let real = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0);
        real + self.offset_ms.load(Ordering::Relaxed)
    }

    /// Current sim time, whole seconds.
    pub fn now(&self) -> SfDateTime {
        SfDateTime(self.now_ms().div_euclid(1000))
    }

    /// Moves the clock forward (the offset accumulates).
    pub fn advance(&self, by: Duration) {
        self.offset_ms.fetch_add(by.as_millis() as i64, Ordering::Relaxed);
    }

    /// The current offset in milliseconds (persisted with the state).
    pub fn offset_ms(&self) -> i64 {
        self.offset_ms.load(Ordering::Relaxed)
    }

    /// Restores a persisted offset.
    pub fn set_offset_ms(&self, ms: i64) {
        self.offset_ms.store(ms, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_rest_and_zulu() {
        let t = SfDateTime::parse("2011-07-07T00:37:00.000+0000").unwrap();
        assert_eq!(t.rest().as_str(), "2011-07-07T00:37:00.000+0000");
        assert_eq!(t.zulu().as_str(), "2011-07-07T00:37:00.000Z");
        assert_eq!(t.date().format().as_str(), "2011-07-07");
        let e = SfDateTime(0);
        assert_eq!(e.rest().as_str(), "1970-01-01T00:00:00.000+0000");
    }

    #[test]
    fn parses_offsets_fractions_and_dates() {
        let z = parse_datetime_ms("2024-01-01T00:00:00Z").unwrap();
        assert_eq!(parse_datetime_ms("2024-01-01T01:00:00+01:00"), Some(z));
        assert_eq!(parse_datetime_ms("2023-12-31T19:00:00-05:00"), Some(z));
        assert_eq!(parse_datetime_ms("2024-01-01T00:00:00.000+0000"), Some(z));
        assert_eq!(parse_datetime_ms("2024-01-01T00:00:00.25Z"), Some(z + 250));
        assert_eq!(parse_datetime_ms("2024-01-01"), Some(z));
        assert!(parse_datetime_ms("2024-02-30T00:00:00Z").is_none());
        assert!(parse_datetime_ms("2024-01-01T00:00:00").is_none());
        assert_eq!(SfDate::parse("2024-02-29").unwrap().format().as_str(), "2024-02-29");
        for day in [-1000i64, 0, 59, 10_000, 20_000] {
            let (y, m, d) = civil_from_days(day);
            assert_eq!(days_from_civil(y, m, d), day);
        }
    }
}
