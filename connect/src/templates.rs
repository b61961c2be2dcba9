//! The index templates the connector installs before indexing anything, so every field gets the
//! type Kibana needs: `position` a `geo_point` (the messages' `[longitude, latitude]`), ids
//! `keyword`, `timestamp` a `date`. Without them Elasticsearch would guess numbers for positions.

use events::{TOPIC_NEW_DIRECTION, TOPIC_NEW_POSITION};
use serde_json::{Value, json};

/// `(template name, template body)` for an index per topic; the index is named like the topic.
pub fn templates(positions_topic: &str, directions_topic: &str) -> Vec<(String, Value)> {
    vec![
        (
            "rota-positions".to_owned(),
            template(positions_topic, positions_mapping()),
        ),
        (
            "rota-directions".to_owned(),
            template(directions_topic, directions_mapping()),
        ),
    ]
}

/// The default topics' templates.
pub fn default_templates() -> Vec<(String, Value)> {
    templates(TOPIC_NEW_POSITION, TOPIC_NEW_DIRECTION)
}

fn template(index: &str, properties: Value) -> Value {
    json!({
        "index_patterns": [index],
        "priority": 200,
        "template": {
            "settings": {"number_of_shards": 1},
            "mappings": {"dynamic": true, "properties": properties},
        },
        "_meta": {"description": format!("Rota: documents from the Kafka topic {index}")},
    })
}

const DATE: &str = "epoch_millis||strict_date_optional_time";

fn positions_mapping() -> Value {
    json!({
        "routeId": {"type": "keyword"},
        "clientId": {"type": "keyword"},
        "rideId": {"type": "keyword"},
        "position": {"type": "geo_point"},
        "finished": {"type": "boolean"},
        "status": {"type": "keyword"},
        "seq": {"type": "long"},
        "progress": {"type": "double"},
        "distanceM": {"type": "double"},
        "routeLengthM": {"type": "double"},
        "speedKmh": {"type": "double"},
        "heading": {"type": "double"},
        "timestamp": {"type": "date", "format": DATE},
    })
}

fn directions_mapping() -> Value {
    json!({
        "routeId": {"type": "keyword"},
        "clientId": {"type": "keyword"},
        "rideId": {"type": "keyword"},
        "speedKmh": {"type": "double"},
        "cancel": {"type": "boolean"},
        // The route's points ride along in the command; kept in _source, not indexed.
        "points": {"type": "object", "enabled": false},
        "timestamp": {"type": "date", "format": DATE},
    })
}
