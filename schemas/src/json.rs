//! Serde helpers for the generated types: enums as their proto names, bytes as hex.

/// `EnrichedQuote.buildup` as its enum name (`LONG_BUILDUP`, ...), per SPEC §3.
pub mod buildup {
    use crate::v1::Buildup;
    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes the enum's proto name.
    ///
    /// # Errors
    /// For a number that is not one of the enum's (never shown as some other
    /// class), and those of the serializer.
    pub fn serialize<S: Serializer>(v: &i32, s: S) -> Result<S::Ok, S::Error> {
        match Buildup::try_from(*v) {
            Ok(b) => s.serialize_str(b.as_str_name()),
            Err(_) => Err(serde::ser::Error::custom(format!(
                "buildup {v} is not a Buildup value"
            ))),
        }
    }

    /// Reads the enum's proto name.
    ///
    /// # Errors
    /// When the string is not one of the enum's names.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<i32, D::Error> {
        let s = String::deserialize(d)?;
        Buildup::from_str_name(&s)
            .map(|b| b as i32)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown buildup {s:?}")))
    }
}

/// `bytes` fields as lower-case hex strings.
pub mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::fmt::Write;

    /// # Errors
    /// Only those of the serializer.
    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        let mut out = String::with_capacity(v.len() * 2);
        for b in v {
            let _ = write!(out, "{b:02x}");
        }
        s.serialize_str(&out)
    }

    /// # Errors
    /// When the string is not an even-length hex string.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        if s.len() % 2 != 0 {
            return Err(serde::de::Error::custom("odd-length hex string"));
        }
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).map_err(serde::de::Error::custom))
            .collect()
    }
}
