//! Projection documents as the REST JSON of SPEC §7: proto field names, integers
//! as numbers, BSON dates as RFC 3339 strings, no `_id`.

use mongodb::bson::{Bson, Document};
use serde_json::{Map, Number, Value};

/// A BSON value as JSON (dates as RFC 3339 with milliseconds, UTC).
pub fn bson_json(b: Bson) -> Value {
    match b {
        Bson::Double(f) => Number::from_f64(f).map_or(Value::Null, Value::Number),
        Bson::String(s) => Value::String(s),
        Bson::Array(a) => Value::Array(a.into_iter().map(bson_json).collect()),
        Bson::Document(d) => document_json(d),
        Bson::Boolean(b) => Value::Bool(b),
        Bson::Null => Value::Null,
        Bson::Int32(i) => Value::from(i),
        Bson::Int64(i) => Value::from(i),
        Bson::DateTime(d) => Value::String(
            d.try_to_rfc3339_string()
                .unwrap_or_else(|_| d.timestamp_millis().to_string()),
        ),
        other => Value::String(other.to_string()),
    }
}

/// A projection document as JSON, without its `_id` and processing fields.
pub fn document_json(d: Document) -> Value {
    let mut m = Map::with_capacity(d.len());
    for (k, v) in d {
        // Processing fields (`written_at`, lineage) are not part of the REST shape.
        if k == "_id" || k == "processor_version" || k.ends_with("_at") {
            continue;
        }
        m.insert(k, bson_json(v));
    }
    Value::Object(m)
}
