//! A Kafka record as an Elasticsearch document.

use serde_json::{Map, Value};

/// Where a record came from: its document id, and what a dead letter names.
#[derive(Clone, Debug, PartialEq)]
pub struct Source {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub payload: Vec<u8>,
    /// The record's Kafka timestamp, ms since the epoch.
    pub timestamp: Option<i64>,
}

impl Source {
    /// `topic+partition+offset`, as Kafka Connect's sink names documents: the same record always
    /// becomes the same document, so indexing it again changes nothing.
    pub fn document_id(&self) -> String {
        format!("{}+{}+{}", self.topic, self.partition, self.offset)
    }
}

/// One document to index: into the index named like its topic.
#[derive(Clone, Debug, PartialEq)]
pub struct Document {
    pub index: String,
    pub id: String,
    pub body: Map<String, Value>,
    /// About what the document costs in a bulk request, for the batch's byte limit.
    pub size: usize,
}

impl Document {
    /// The record's JSON object, with `timestamp` (ms since the epoch) added from the Kafka record
    /// when the message has none. Anything but a JSON object is refused with the reason.
    pub fn of(source: &Source) -> Result<Self, String> {
        let value: Value =
            serde_json::from_slice(&source.payload).map_err(|e| format!("not valid JSON: {e}"))?;
        let Value::Object(mut body) = value else {
            return Err(format!("not a JSON object but {}", kind(&value)));
        };
        if let (false, Some(at)) = (body.contains_key("timestamp"), source.timestamp) {
            body.insert("timestamp".to_owned(), at.into());
        }
        let id = source.document_id();
        Ok(Self {
            index: source.topic.clone(),
            size: source.payload.len() + source.topic.len() + id.len() + 64,
            id,
            body,
        })
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(payload: &str) -> Source {
        Source {
            topic: "route.new-position".to_owned(),
            partition: 2,
            offset: 41,
            key: None,
            payload: payload.as_bytes().to_vec(),
            timestamp: Some(1_795_000_000_000),
        }
    }

    #[test]
    fn a_record_becomes_a_document_named_by_topic_partition_and_offset() {
        let doc = Document::of(&source(r#"{"rideId":"r","position":[-47.9,-15.8]}"#)).unwrap();
        assert_eq!(doc.index, "route.new-position");
        assert_eq!(doc.id, "route.new-position+2+41");
        assert_eq!(doc.body["timestamp"], 1_795_000_000_000_i64);
        assert_eq!(doc.body["position"], serde_json::json!([-47.9, -15.8]));
    }

    #[test]
    fn a_message_keeps_its_own_timestamp() {
        let doc = Document::of(&source(r#"{"timestamp":5}"#)).unwrap();
        assert_eq!(doc.body["timestamp"], 5);
    }

    #[test]
    fn anything_but_a_json_object_is_refused_with_the_reason() {
        assert!(
            Document::of(&source("{nope"))
                .unwrap_err()
                .starts_with("not valid JSON: ")
        );
        assert_eq!(
            Document::of(&source("[1]")).unwrap_err(),
            "not a JSON object but an array"
        );
    }
}
