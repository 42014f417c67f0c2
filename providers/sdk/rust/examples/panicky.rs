//! A provider that panics on request (capid `gantry:panicky`), for the SDK's tests:
//! `Panic` panics while holding the provider's lock, `Count` counts calls under that lock, so
//! a test can see that a panic becomes GANTRY_ERR_PROVIDER and the provider keeps serving.
//! Health: configure `{"unhealthy": "why"}` makes it report itself unhealthy with that reason,
//! `{"unhealthy": "panic"}` makes health panic (the SDK reports that as unhealthy).
use gantry_provider::{export_provider, Provider, ProviderError};
use std::sync::{Mutex, PoisonError};

#[derive(Default)]
struct Panicky {
    calls: Mutex<u64>,
    unhealthy: Mutex<Option<String>>,
}

impl Provider for Panicky {
    fn capability_id(&self) -> &str {
        "gantry:panicky"
    }
    fn name(&self) -> &str {
        "Gantry Rust SDK panic test"
    }
    fn configure(&self, config_json: &[u8]) -> Result<(), ProviderError> {
        let raw = gantry_provider::json::member(config_json, "unhealthy").map_err(|_| ProviderError::config("not a JSON object"))?;
        let why = match raw {
            None => None,
            Some(r) => Some(gantry_provider::json::string(r).ok_or_else(|| ProviderError::config("\"unhealthy\" must be a string"))?),
        };
        let why = why.map(|w| String::from_utf8_lossy(&w).into_owned());
        *self.unhealthy.lock().unwrap_or_else(PoisonError::into_inner) = why;
        Ok(())
    }
    fn health(&self) -> Result<(), String> {
        match self.unhealthy.lock().unwrap_or_else(PoisonError::into_inner).as_deref() {
            None => Ok(()),
            Some("panic") => panic!("asked to panic in health"),
            Some(why) => Err(why.to_string()),
        }
    }
    fn handle_call(&self, _actor: &str, op: &str, _payload: &[u8]) -> Result<Vec<u8>, ProviderError> {
        let mut calls = self.calls.lock().unwrap_or_else(PoisonError::into_inner);
        *calls += 1;
        match op {
            "Count" => Ok(calls.to_string().into_bytes()),
            "Panic" => panic!("asked to panic after {} calls", *calls),
            "TraceContext" => Ok(gantry_provider::trace_context().to_json()),
            _ => Err(ProviderError::unknown_op(format!("panicky has no operation \"{op}\" (Count, Panic)"))),
        }
    }
}

export_provider!(Panicky::default());
