//! A recipient's MessagePack, written directly: the same bytes the embedded store's serde encoding
//! gives (a map of the fields present, by name), in a fraction of its time. A sync writes
//! recipients by the hundred thousand; serde writes every other item.

use serde::Serialize;

use super::model::Recipient;
use super::table::BatchItem;

impl<Text: AsRef<str> + Serialize> BatchItem for Recipient<Text> {
    fn write_msgpack(&self, out: &mut Vec<u8>) -> bool {
        let texts = [&self.first_name, &self.last_name, &self.email, &self.bounce_reason];
        let longest = texts.iter().filter_map(|text| text.as_ref()).map(|text| text.as_ref().len()).max();
        if longest.is_some_and(|len| u32::try_from(len).is_err()) {
            // Serde's writer refuses it; so does this one, by leaving it to serde.
            return false;
        }
        let present = texts.iter().filter(|text| text.is_some()).count() + usize::from(self.bounced_at.is_some());
        // id, the four flags and modstamp are always written: at most 11 fields, a fixmap.
        out.push(0x80 | (6 + present) as u8);
        let optional_text = |out: &mut Vec<u8>, name: &'static str, text: &Option<Text>| {
            if let Some(text) = text {
                write_name(out, name);
                write_str(out, text.as_ref());
            }
        };
        write_name(out, "id");
        // A fixstr of the id's 18 bytes, copied as one array.
        out.push(0xa0 | 18);
        out.extend_from_slice(self.id.as_bytes());
        optional_text(out, "first_name", &self.first_name);
        optional_text(out, "last_name", &self.last_name);
        optional_text(out, "email", &self.email);
        write_name(out, "opted_out");
        write_bool(out, self.opted_out);
        write_name(out, "bounced");
        write_bool(out, self.bounced);
        optional_text(out, "bounce_reason", &self.bounce_reason);
        if let Some(bounced_at) = self.bounced_at {
            write_name(out, "bounced_at");
            write_str(out, &bounced_at.to_string());
        }
        write_name(out, "converted");
        write_bool(out, self.converted);
        write_name(out, "deleted");
        write_bool(out, self.deleted);
        write_name(out, "modstamp");
        write_int(out, self.modstamp);
        true
    }
}

/// A field's name: a fixstr whose length is known where it is inlined, so that its bytes are
/// stored by a few moves rather than a call to `memcpy` each.
#[inline(always)]
fn write_name(out: &mut Vec<u8>, name: &'static str) {
    debug_assert!(name.len() < 32, "a field name is a fixstr");
    out.push(0xa0 | name.len() as u8);
    out.extend_from_slice(name.as_bytes());
}

/// A string in its shortest form (fixstr, str 8, 16 or 32); the caller keeps it under 4 GiB.
fn write_str(out: &mut Vec<u8>, text: &str) {
    let len = text.len();
    match len {
        0..32 => out.push(0xa0 | len as u8),
        32..256 => out.extend_from_slice(&[0xd9, len as u8]),
        256..65_536 => {
            out.push(0xda);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            out.push(0xdb);
            out.extend_from_slice(&(len as u32).to_be_bytes());
        }
    }
    out.extend_from_slice(text.as_bytes());
}

fn write_bool(out: &mut Vec<u8>, value: bool) {
    out.push(if value { 0xc3 } else { 0xc2 });
}

/// An integer in its shortest form, as `rmp` writes a signed one: non-negative values as unsigned.
fn write_int(out: &mut Vec<u8>, value: i64) {
    match value {
        -32..0 => out.push(value as u8),
        -128..-32 => out.extend_from_slice(&[0xd0, value as u8]),
        -32_768..-128 => {
            out.push(0xd1);
            out.extend_from_slice(&(value as i16).to_be_bytes());
        }
        -2_147_483_648..-32_768 => {
            out.push(0xd2);
            out.extend_from_slice(&(value as i32).to_be_bytes());
        }
        ..-2_147_483_648 => {
            out.push(0xd3);
            out.extend_from_slice(&value.to_be_bytes());
        }
        0..128 => out.push(value as u8),
        128..256 => out.extend_from_slice(&[0xcc, value as u8]),
        256..65_536 => {
            out.push(0xcd);
            out.extend_from_slice(&(value as u16).to_be_bytes());
        }
        65_536..4_294_967_296 => {
            out.push(0xce);
            out.extend_from_slice(&(value as u32).to_be_bytes());
        }
        _ => {
            out.push(0xcf);
            out.extend_from_slice(&value.to_be_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::RecordId;
    use crate::salesforce::SfDateTime;
    use crate::store::embedded::write_value;

    /// The recipient's bytes through serde, then directly; both after an 8-byte ttl.
    fn both<Text: AsRef<str> + Serialize>(recipient: &Recipient<Text>) -> (Vec<u8>, Vec<u8>) {
        let mut serde = Vec::new();
        write_value(&mut serde, None, recipient).unwrap();
        let mut direct = i64::MAX.to_le_bytes().to_vec();
        assert!(recipient.write_msgpack(&mut direct));
        (serde, direct)
    }

    #[test]
    fn a_recipient_is_written_byte_for_byte_as_serde_writes_it() {
        // Lengths on each side of every string form's edge, and text that is not ASCII.
        let texts: Vec<Option<String>> = [None, Some(String::new()), Some("Zoë O'Brien".into())]
            .into_iter()
            .chain([1, 31, 32, 255, 256, 65_535, 65_536].map(|len| Some("x".repeat(len))))
            .collect();
        // Each side of every integer form's edge, as rmp writes a signed integer.
        let numbers = [
            i64::MIN,
            -2_147_483_649,
            -2_147_483_648,
            -32_769,
            -32_768,
            -129,
            -128,
            -33,
            -32,
            -1,
            0,
            127,
            128,
            255,
            256,
            65_535,
            65_536,
            4_294_967_295,
            4_294_967_296,
            1_764_000_000_123,
            i64::MAX,
        ];
        let id = RecordId::parse("003x0000004TmiQAAS").unwrap();
        for n in 0..4_000usize {
            let text = |stride: usize| texts[(n / stride) % texts.len()].clone();
            let recipient = Recipient {
                id,
                first_name: text(1),
                last_name: text(3),
                email: text(7),
                opted_out: n % 2 == 0,
                bounced: n % 4 < 2,
                bounce_reason: text(11),
                bounced_at: (n % 5 == 0).then(|| SfDateTime::parse("2026-11-29T15:04:05.000+0000").unwrap()),
                converted: n % 8 < 4,
                deleted: n % 16 < 8,
                modstamp: numbers[n % numbers.len()],
            };
            let (serde, direct) = both(&recipient);
            assert_eq!(direct, serde, "{recipient:?}");
            // The sync's borrowed form too.
            let (serde, direct) = both(&recipient.borrowed());
            assert_eq!(direct, serde, "{recipient:?}");
        }
    }
}
