//! A provider that panics on request (capid `gantry:panicky`), for the SDK's tests:
//! `Panic` panics while holding the provider's lock, `Count` counts calls under that lock, so
//! a test can see that a panic becomes GANTRY_ERR_PROVIDER and the provider keeps serving.
use gantry_provider::{export_provider, Provider, ProviderError};
use std::sync::{Mutex, PoisonError};

#[derive(Default)]
struct Panicky {
    calls: Mutex<u64>,
}

impl Provider for Panicky {
    fn capability_id(&self) -> &str {
        "gantry:panicky"
    }
    fn name(&self) -> &str {
        "Gantry Rust SDK panic test"
    }
    fn handle_call(&self, _actor: &str, op: &str, _payload: &[u8]) -> Result<Vec<u8>, ProviderError> {
        let mut calls = self.calls.lock().unwrap_or_else(PoisonError::into_inner);
        *calls += 1;
        match op {
            "Count" => Ok(calls.to_string().into_bytes()),
            "Panic" => panic!("asked to panic after {} calls", *calls),
            _ => Err(ProviderError::unknown_op(format!("panicky has no operation \"{op}\" (Count, Panic)"))),
        }
    }
}

export_provider!(Panicky::default());
