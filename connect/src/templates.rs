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

#[cfg(test)]
mod tests {
    use events::{NewDirection, NewPosition, RideStatus};

    use super::*;

    /// The keys of a JSON object, sorted.
    fn fields(message: Value) -> Vec<String> {
        let mut names: Vec<String> = message.as_object().unwrap().keys().cloned().collect();
        names.sort();
        names
    }

    /// The mappings name every field of the messages, and nothing else: a field added to the wire
    /// contract without a mapping would be typed by Elasticsearch's guess.
    #[test]
    fn every_message_field_is_mapped() {
        let position = NewPosition {
            route_id: "1".into(),
            client_id: "c".into(),
            ride_id: "r".into(),
            position: [-47.9, -15.8],
            finished: true,
            status: Some(RideStatus::Finished),
            seq: 1,
            progress: 1.0,
            distance_m: 1.0,
            route_length_m: 1.0,
            speed_kmh: 1.0,
            heading: 1.0,
            timestamp: 1,
        };
        assert_eq!(
            fields(positions_mapping()),
            fields(serde_json::to_value(position).unwrap())
        );
        let direction = NewDirection {
            route_id: "1".into(),
            client_id: "c".into(),
            ride_id: Some("r".into()),
            points: Some(vec![[-47.9, -15.8]]),
            speed_kmh: Some(1.0),
            cancel: true,
        };
        // `timestamp` is the Kafka record's, added by the connector (see `Document::of`).
        let mut expected = fields(serde_json::to_value(direction).unwrap());
        expected.push("timestamp".into());
        expected.sort();
        assert_eq!(fields(directions_mapping()), expected);
    }
}
