//! The `Ds-Schema` header: `deltastream.v1.<MessageName>` on every published message.

use prost::Message;

/// Header naming the protobuf message a payload holds (exact spelling, SPEC §2).
pub const SCHEMA_HEADER: &str = "Ds-Schema";

/// A message of the contract, with its fully-qualified schema name.
pub trait Schema: Message + Default {
    /// `deltastream.v1.<MessageName>`.
    const NAME: &'static str;
    /// The message name alone, e.g. `EnrichedChain` (used in `Nats-Msg-Id`s).
    const SHORT: &'static str;
}

macro_rules! schema {
    ($($t:ident),* $(,)?) => {$(
        impl Schema for crate::v1::$t {
            const NAME: &'static str = concat!("deltastream.v1.", stringify!($t));
            const SHORT: &'static str = stringify!($t);
        }
    )*};
}

schema!(
    UnderlyingTick,
    OptionQuote,
    OptionChain,
    EnrichedQuote,
    EnrichedChain,
    ChainSummary,
    EnrichedUnderlying,
    Bar,
    DeadLetter,
);

/// Why a payload could not be read as the expected message.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SchemaError {
    /// The `Ds-Schema` header names another message.
    #[error("Ds-Schema header is {found:?}, expected {expected:?}")]
    WrongSchema {
        /// What the header said.
        found: String,
        /// What the subject calls for.
        expected: &'static str,
    },
    /// The bytes are not a valid encoding of the message.
    #[error("undecodable {schema}: {reason}")]
    Undecodable {
        /// The message it was decoded as.
        schema: &'static str,
        /// prost's explanation.
        reason: String,
    },
}

/// Decodes `payload` as `T`, checking the `Ds-Schema` header when one is present
/// (a missing header is accepted: the subject already says what to expect).
///
/// # Errors
/// [`SchemaError::WrongSchema`] when the header names another message,
/// [`SchemaError::Undecodable`] when the bytes are not a `T`.
pub fn decode<T: Schema>(schema_header: Option<&str>, payload: &[u8]) -> Result<T, SchemaError> {
    if let Some(found) = schema_header {
        if found != T::NAME {
            return Err(SchemaError::WrongSchema {
                found: found.to_owned(),
                expected: T::NAME,
            });
        }
    }
    T::decode(payload).map_err(|e| SchemaError::Undecodable {
        schema: T::NAME,
        reason: e.to_string(),
    })
}
