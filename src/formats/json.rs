//! JSON helpers shared by the readers: objects that keep each value's original bytes, and error
//! locations (file, line, column, JSON path) for every way a record can be wrong.
//!
//! Keeping raw value bytes is what makes ingest lossless: keys trajkit does not model are stored
//! verbatim, so numbers, escapes and nested vendor data come back exactly as logged.

use std::borrow::Cow;
use std::fmt;
use std::ops::Range;

use serde::de::{Deserializer, MapAccess, Visitor};
use serde::{Deserialize, de};
use serde_json::value::RawValue;

use super::FormatError;

/// A JSON object as its keys and the raw bytes of each value, in the original order.
#[derive(Debug, Default)]
pub struct RawObject<'a> {
    /// Keys (unescaped) and raw values.
    pub entries: Vec<(Cow<'a, str>, &'a RawValue)>,
}

impl<'a> RawObject<'a> {
    /// The raw value of `key`, if present.
    pub fn get(&self, key: &str) -> Option<&'a RawValue> {
        self.entries
            .iter()
            .find(|(name, _)| name == key)
            .map(|(_, value)| *value)
    }

    /// The object without `excluded` keys as JSON text with the original value bytes; `None`
    /// when no key is left.
    pub fn to_json_without(&self, excluded: &[&str]) -> Option<String> {
        let mut text = String::new();
        for (key, value) in &self.entries {
            if excluded.contains(&key.as_ref()) {
                continue;
            }
            text.push(if text.is_empty() { '{' } else { ',' });
            // Serializing a string cannot fail.
            text.push_str(&serde_json::to_string(key.as_ref()).unwrap_or_default());
            text.push(':');
            text.push_str(value.get());
        }
        if text.is_empty() {
            None
        } else {
            text.push('}');
            Some(text)
        }
    }
}

impl<'de> Deserialize<'de> for RawObject<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(RawObjectVisitor)
    }
}

struct RawObjectVisitor;

impl<'de> Visitor<'de> for RawObjectVisitor {
    type Value = RawObject<'de>;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut entries = Vec::new();
        while let Some(Key(key)) = map.next_key()? {
            let value: &'de RawValue = map.next_value()?;
            entries.push((key, value));
        }
        Ok(RawObject { entries })
    }
}

/// A JSON object parsed in one pass, with the value of one key split into its raw array elements
/// (the rest kept raw, as in `RawObject`). Large documents are mostly that one array (a
/// trajectory's `messages`), so this saves a full scan of it.
#[derive(Debug)]
pub struct RawObjectWithArray<'a> {
    /// Every other key.
    pub object: RawObject<'a>,
    /// The array's elements, when the key was present.
    pub array: Option<Vec<&'a RawValue>>,
}

/// Parses `text` as an object whose `key` holds an array. Fails (and the caller should take a
/// slower path that explains why) when the text is not such an object.
pub fn parse_object_with_array<'a>(
    text: &'a str,
    key: &str,
) -> Result<RawObjectWithArray<'a>, serde_json::Error> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let parsed = de::DeserializeSeed::deserialize(WithArray { key }, &mut deserializer)?;
    deserializer.end()?;
    Ok(parsed)
}

struct WithArray<'k> {
    key: &'k str,
}

impl<'de> de::DeserializeSeed<'de> for WithArray<'_> {
    type Value = RawObjectWithArray<'de>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for WithArray<'_> {
    type Value = RawObjectWithArray<'de>;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "a JSON object with an array `{}`", self.key)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut entries = Vec::new();
        let mut array = None;
        while let Some(Key(key)) = map.next_key()? {
            if key == self.key && array.is_none() {
                array = Some(map.next_value::<Vec<&'de RawValue>>()?);
            } else {
                entries.push((key, map.next_value::<&'de RawValue>()?));
            }
        }
        Ok(RawObjectWithArray {
            object: RawObject { entries },
            array,
        })
    }
}

/// A map key borrowed from the input when it has no escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str("a string key")
            }
            fn visit_borrowed_str<E: de::Error>(self, value: &'de str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Borrowed(value)))
            }
            fn visit_str<E: de::Error>(self, value: &str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(value.to_owned())))
            }
            fn visit_string<E: de::Error>(self, value: String) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(value)))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

/// The JSON type of a raw value, for messages ("expected an object, found an array").
pub fn kind_of(value: &RawValue) -> &'static str {
    match value.get().as_bytes().first() {
        Some(b'{') => "an object",
        Some(b'[') => "an array",
        Some(b'"') => "a string",
        Some(b't' | b'f') => "a boolean",
        Some(b'n') => "null",
        _ => "a number",
    }
}

/// One record's text within its file, to turn byte offsets and serde errors into locations.
#[derive(Debug, Clone, Copy)]
pub struct RecordText<'a> {
    /// The record's text.
    pub text: &'a str,
    /// File path for messages.
    pub path: &'a str,
    /// Line of the file where `text` starts.
    pub first_line: u64,
}

impl<'a> RecordText<'a> {
    /// Validates `bytes` as UTF-8, or locates the first invalid byte.
    pub fn decode(bytes: &'a [u8], path: &'a str, first_line: u64) -> Result<Self, FormatError> {
        match std::str::from_utf8(bytes) {
            Ok(text) => Ok(RecordText {
                text,
                path,
                first_line,
            }),
            Err(error) => {
                let valid = error.valid_up_to();
                // The prefix up to `valid` is valid UTF-8 by definition.
                let prefix = std::str::from_utf8(&bytes[..valid]).unwrap_or_default();
                let at = RecordText {
                    text: prefix,
                    path,
                    first_line,
                };
                let (line, column) = at.line_column(valid);
                Err(FormatError {
                    path: path.to_owned(),
                    line: Some(line),
                    column: Some(column),
                    json_path: None,
                    message: format!("invalid UTF-8 (byte offset {valid} of the record)"),
                })
            }
        }
    }

    /// Line and column (1-based, column in bytes) of a byte offset into the text.
    pub fn line_column(&self, offset: usize) -> (u64, u64) {
        let before = &self.text.as_bytes()[..offset.min(self.text.len())];
        let newlines = memchr::memchr_iter(b'\n', before).count();
        let line_start = before
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        (
            self.first_line + newlines as u64,
            (before.len() - line_start + 1) as u64,
        )
    }

    /// Byte offset of a raw value borrowed from this text.
    pub fn offset_of(&self, value: &RawValue) -> usize {
        value
            .get()
            .as_ptr()
            .addr()
            .saturating_sub(self.text.as_ptr().addr())
    }

    /// An error located at a raw value of this record.
    pub fn error_at(
        &self,
        value: &RawValue,
        json_path: impl Into<String>,
        message: impl Into<String>,
    ) -> FormatError {
        let (line, column) = self.line_column(self.offset_of(value));
        FormatError {
            path: self.path.to_owned(),
            line: Some(line),
            column: Some(column),
            json_path: Some(json_path.into()).filter(|p: &String| !p.is_empty()),
            message: message.into(),
        }
    }

    /// An error about the whole record, located at its start.
    pub fn error(&self, message: impl Into<String>) -> FormatError {
        FormatError {
            path: self.path.to_owned(),
            line: Some(self.first_line),
            column: None,
            json_path: None,
            message: message.into(),
        }
    }

    /// A `serde_json` error while parsing this record's text (or a value borrowed from it,
    /// starting at `base`), located in the file.
    pub fn json_error(
        &self,
        error: &serde_json::Error,
        base: usize,
        json_path: &str,
    ) -> FormatError {
        let (base_line, base_column) = self.line_column(base);
        let line = base_line + (error.line() as u64).saturating_sub(1);
        let column = if error.line() <= 1 {
            base_column + (error.column() as u64).saturating_sub(1)
        } else {
            error.column() as u64
        };
        let text = error.to_string();
        let message = text
            .rsplit_once(" at line ")
            .map_or(text.as_str(), |(message, _)| message);
        let message = if error.is_eof() {
            format!("truncated JSON: {message}")
        } else {
            message.to_owned()
        };
        FormatError {
            path: self.path.to_owned(),
            line: Some(line),
            column: (error.line() > 0).then_some(column),
            json_path: Some(json_path.to_owned()).filter(|p| !p.is_empty()),
            message,
        }
    }

    /// Parses a value borrowed from this text, locating any error.
    pub fn parse<T: Deserialize<'a>>(
        &self,
        value: &'a RawValue,
        json_path: &str,
    ) -> Result<T, FormatError> {
        serde_json::from_str(value.get())
            .map_err(|error| self.json_error(&error, self.offset_of(value), json_path))
    }
}

/// Reads a JSON number as u64, accepting integral floats (`12.0`) that some loggers write.
#[expect(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "the float is checked to be a non-negative integer below 1e18 first"
)]
pub fn as_count(value: &serde_json::Value) -> Option<u64> {
    value.as_u64().or_else(|| {
        value
            .as_f64()
            .filter(|f| f.is_finite() && *f >= 0.0 && f.fract() == 0.0 && *f < 1e18)
            .map(|f| f as u64)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_object_keeps_value_bytes_and_order() {
        let text = r#"{"b": 1.50, "a\u0041": {"x": [1,2]}, "c": "\u00e9"}"#;
        let object: RawObject = serde_json::from_str(text).unwrap();
        assert_eq!(object.entries[1].0, "aA");
        assert_eq!(
            object.to_json_without(&["c"]).unwrap(),
            r#"{"b":1.50,"aA":{"x": [1,2]}}"#
        );
    }

    #[test]
    fn one_pass_parsing_splits_the_array_and_keeps_the_rest() {
        let text = r#"{"a": 1, "messages": [{"role": "user"}, 2], "b": "x"}"#;
        let parsed = parse_object_with_array(text, "messages").unwrap();
        let items: Vec<&str> = parsed.array.unwrap().iter().map(|v| v.get()).collect();
        assert_eq!(items, [r#"{"role": "user"}"#, "2"]);
        assert_eq!(
            parsed.object.to_json_without(&[]).unwrap(),
            r#"{"a":1,"b":"x"}"#
        );
        assert!(parse_object_with_array(r#"{"messages": 3}"#, "messages").is_err());
        assert!(parse_object_with_array("[1]", "messages").is_err());
    }

    #[test]
    fn locations_count_lines_from_the_record_start() {
        let record = RecordText {
            text: "{\n  \"a\": [1,\n 2]}",
            path: "f.json",
            first_line: 10,
        };
        assert_eq!(record.line_column(0), (10, 1));
        assert_eq!(record.line_column(11), (11, 10));
        let error = serde_json::from_str::<serde_json::Value>("{\n \"a\": [1,").unwrap_err();
        let located = record.json_error(&error, 0, "");
        assert_eq!(located.line, Some(11));
        assert!(located.message.starts_with("truncated JSON"), "{located}");
    }

    #[test]
    fn invalid_utf8_is_located() {
        let bytes = b"{\"a\":\n\"x\xffy\"}";
        let error = RecordText::decode(bytes, "f.jsonl", 3).unwrap_err();
        assert_eq!((error.line, error.column), (Some(4), Some(3)));
        assert!(error.to_string().starts_with("f.jsonl:4:3: invalid UTF-8"));
    }
}

/// The non-blank lines of a line-oriented file (JSONL, event logs): each line's number (the
/// first being `first_line`) and its byte range in `data`, without the newline.
pub fn record_lines(data: &[u8], first_line: u64) -> impl Iterator<Item = (u64, Range<usize>)> {
    let mut start = 0;
    let mut line = first_line;
    std::iter::from_fn(move || {
        while start < data.len() {
            let end = memchr::memchr(b'\n', &data[start..]).map_or(data.len(), |i| start + i);
            let found = (line, start..end);
            line += 1;
            start = end + 1;
            if data[found.1.clone()]
                .iter()
                .any(|b| !b.is_ascii_whitespace())
            {
                return Some(found);
            }
        }
        None
    })
}

/// An ISO-8601 / RFC 3339 time (`2025-07-01T12:00:00.123Z`, `+02:00` offsets) as milliseconds
/// since the Unix epoch. A time without an offset (Aider's `2025-04-24T14:55:17`) is taken as
/// UTC, since logs that omit the offset give no way to know the writer's zone.
pub fn iso_time_to_unix_ms(text: &str) -> Option<i64> {
    let text = text.trim();
    if let Ok(timestamp) = text.parse::<jiff::Timestamp>() {
        return Some(timestamp.as_millisecond());
    }
    let civil: jiff::civil::DateTime = text.parse().ok()?;
    civil
        .to_zoned(jiff::tz::TimeZone::UTC)
        .ok()
        .map(|zoned| zoned.timestamp().as_millisecond())
}

#[cfg(test)]
mod time_tests {
    use super::iso_time_to_unix_ms;

    #[test]
    fn iso_times_with_and_without_offsets() {
        assert_eq!(
            iso_time_to_unix_ms("2025-07-01T12:00:00.123Z"),
            Some(1_751_371_200_123)
        );
        assert_eq!(
            iso_time_to_unix_ms("2025-07-01T14:00:00+02:00"),
            Some(1_751_371_200_000)
        );
        assert_eq!(
            iso_time_to_unix_ms("2025-07-01T12:00:00"),
            Some(1_751_371_200_000)
        );
        assert_eq!(iso_time_to_unix_ms("yesterday"), None);
    }
}
