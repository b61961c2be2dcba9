//! IncrementalAlterConfigs: the request Kafka's own `kafka-configs --alter` sends, which changes
//! only the keys given. Brokers may lack the older AlterConfigs, which replaces a topic's whole
//! set (the built-in broker does), and rust-rdkafka has only that one, so this calls librdkafka's
//! C API for the newer request.

use std::ffi::{CStr, CString, c_char};

use anyhow::{Result, anyhow};
use events::cluster::{ClusterReader, TIMEOUT};
use rdkafka::{bindings as rd, error::KafkaError, types::RDKafkaErrorCode};

const REQUEST: &str = "IncrementalAlterConfigs";

/// Sets each `(key, value)` on `topic`; its other configs stay as they are.
pub fn set_topic_configs(
    reader: &ClusterReader,
    topic: &str,
    set: &[(String, String)],
) -> Result<()> {
    let topic_name = CString::new(topic)?;
    let pairs = set
        .iter()
        .map(|(key, value)| Ok((CString::new(key.as_str())?, CString::new(value.as_str())?)))
        .collect::<Result<Vec<_>, std::ffi::NulError>>()?;
    let rk = reader.admin().inner().native_ptr();
    let timeout_ms = i32::try_from(TIMEOUT.as_millis()).unwrap_or(i32::MAX);
    // SAFETY: each object is created here from valid C strings that outlive the calls, librdkafka
    // copies the resource when the request is made, and each object is destroyed exactly once.
    unsafe {
        let mut resource = rd::rd_kafka_ConfigResource_new(
            rd::rd_kafka_ResourceType_t::RD_KAFKA_RESOURCE_TOPIC,
            topic_name.as_ptr(),
        );
        for (key, value) in &pairs {
            let error = rd::rd_kafka_ConfigResource_add_incremental_config(
                resource,
                key.as_ptr(),
                rd::rd_kafka_AlterConfigOpType_t::RD_KAFKA_ALTER_CONFIG_OP_TYPE_SET,
                value.as_ptr(),
            );
            if !error.is_null() {
                let message = text(rd::rd_kafka_error_string(error));
                rd::rd_kafka_error_destroy(error);
                rd::rd_kafka_ConfigResource_destroy(resource);
                return Err(anyhow!("{}: {message}", key.to_string_lossy()));
            }
        }
        let options = rd::rd_kafka_AdminOptions_new(
            rk,
            rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_INCREMENTALALTERCONFIGS,
        );
        let queue = rd::rd_kafka_queue_new(rk);
        rd::rd_kafka_IncrementalAlterConfigs(rk, &mut resource, 1, options, queue);
        let event = rd::rd_kafka_queue_poll(queue, timeout_ms);
        let outcome = if event.is_null() {
            Err(anyhow!("{REQUEST}: no answer within {TIMEOUT:?}"))
        } else {
            let outcome = outcome(reader, event);
            rd::rd_kafka_event_destroy(event);
            outcome
        };
        rd::rd_kafka_queue_destroy(queue);
        rd::rd_kafka_AdminOptions_destroy(options);
        rd::rd_kafka_ConfigResource_destroy(resource);
        outcome
    }
}

/// The request's error, or the resource's.
///
/// # Safety
/// `event` is a live IncrementalAlterConfigs result event.
unsafe fn outcome(reader: &ClusterReader, event: *mut rd::rd_kafka_event_t) -> Result<()> {
    let no_error = rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR;
    // SAFETY: as the caller promised; the result and its resources belong to the event.
    unsafe {
        let error = rd::rd_kafka_event_error(event);
        if error != no_error {
            return Err(refusal(
                reader,
                error,
                rd::rd_kafka_event_error_string(event),
            ));
        }
        let result = rd::rd_kafka_event_IncrementalAlterConfigs_result(event);
        let mut count = 0;
        let resources = rd::rd_kafka_IncrementalAlterConfigs_result_resources(result, &mut count);
        for i in 0..count {
            let resource = *resources.add(i);
            let error = rd::rd_kafka_ConfigResource_error(resource);
            if error != no_error {
                let message = rd::rd_kafka_ConfigResource_error_string(resource);
                return Err(refusal(reader, error, message));
            }
        }
    }
    Ok(())
}

/// An error code and librdkafka's text for it, named as unsupported where that is the reason.
///
/// # Safety
/// `message` is null or a C string.
unsafe fn refusal(
    reader: &ClusterReader,
    error: rd::rd_kafka_resp_err_t,
    message: *const c_char,
) -> anyhow::Error {
    let code = RDKafkaErrorCode::from(error);
    match code {
        RDKafkaErrorCode::UnsupportedFeature | RDKafkaErrorCode::UnsupportedVersion => {
            reader.failed(REQUEST, KafkaError::AdminOp(code)).into()
        }
        // SAFETY: as the caller promised.
        _ => anyhow!("{REQUEST} failed: {code}: {}", unsafe { text(message) }),
    }
}

/// # Safety
/// `text` is null or a C string.
unsafe fn text(text: *const c_char) -> String {
    if text.is_null() {
        return String::new();
    }
    // SAFETY: as the caller promised.
    unsafe { CStr::from_ptr(text) }
        .to_string_lossy()
        .into_owned()
}
