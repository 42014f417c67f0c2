//! keyvalue-rs — the keyvalue example provider (capid `wascap:keyvalue`) written with the Rust
//! SDK. Same operations, replies and error messages as `providers/keyvalue.c`, byte for byte
//! (test/vectors/keyvalue.json holds the operations both are run with):
//!
//!   Set  {"key":K,"value":V}  → {"ok":true}      V is any JSON value, stored as its text
//!   Get  {"key":K}            → {"value":V} or null
//!   Del  {"key":K}            → {"deleted":true|false}
//!   Keys {}                   → ["k1","k2",…]    in the C provider's order (hash bucket, then insertion)
//!   Incr {"key":K,"by":N}     → {"value":M}      missing key counts from 0; by defaults to 1
//!
//! and, unlike keyvalue.c (which has no handle_call_traced), `TraceContext` →
//! {"traceparent":…,"tracestate":…}: the call's trace context as the SDK hands it over.
use gantry_provider::{export_provider, json, trace_context, Provider, ProviderError};
use std::sync::{PoisonError, RwLock};

const BUCKETS: usize = 4096;

struct Entry {
    key: Vec<u8>,
    value: Vec<u8>, // raw JSON text
}

struct KeyValue {
    buckets: RwLock<Vec<Vec<Entry>>>,
}

/// FNV-1a, as keyvalue.c hashes keys (the order of Keys depends on it).
fn bucket(key: &[u8]) -> usize {
    let mut h: u64 = 1469598103934665603;
    for &b in key {
        h ^= b as u64;
        h = h.wrapping_mul(1099511628211);
    }
    (h % BUCKETS as u64) as usize
}

/// keyvalue.c formats messages into a 512-byte buffer: at most 511 bytes survive.
fn message(text: Vec<u8>) -> String {
    let mut t = text;
    t.truncate(511);
    String::from_utf8_lossy(&t).into_owned()
}

fn bad_request(m: &str) -> ProviderError {
    ProviderError::bad_request(m)
}

/// A required string member; C strings end at the first NUL, and so do keyvalue.c's keys.
fn require_string(msg: &[u8], name: &str) -> Result<Vec<u8>, ProviderError> {
    match json::member(msg, name) {
        Err(_) => Err(bad_request("payload is not a JSON object")),
        Ok(None) => Err(bad_request(&format!("missing \"{name}\""))),
        Ok(Some(raw)) => {
            let mut s = json::string(raw).ok_or_else(|| bad_request(&format!("\"{name}\" must be a string")))?;
            if let Some(nul) = s.iter().position(|&b| b == 0) {
                s.truncate(nul);
            }
            Ok(s)
        }
    }
}

impl KeyValue {
    fn new() -> Self {
        KeyValue { buckets: RwLock::new((0..BUCKETS).map(|_| Vec::new()).collect()) }
    }

    fn set(&self, msg: &[u8]) -> Result<Vec<u8>, ProviderError> {
        let key = require_string(msg, "key")?;
        let value = match json::member(msg, "value") {
            Ok(Some(v)) => v.to_vec(),
            _ => return Err(bad_request("missing \"value\"")),
        };
        let mut b = self.buckets.write().unwrap_or_else(PoisonError::into_inner);
        let chain = &mut b[bucket(&key)];
        match chain.iter_mut().find(|e| e.key == key) {
            Some(e) => e.value = value,
            None => chain.push(Entry { key, value }),
        }
        Ok(b"{\"ok\":true}".to_vec())
    }

    fn get(&self, msg: &[u8]) -> Result<Vec<u8>, ProviderError> {
        let key = require_string(msg, "key")?;
        let b = self.buckets.read().unwrap_or_else(PoisonError::into_inner);
        Ok(match b[bucket(&key)].iter().find(|e| e.key == key) {
            None => b"null".to_vec(),
            Some(e) => [&b"{\"value\":"[..], &e.value, b"}"].concat(),
        })
    }

    fn del(&self, msg: &[u8]) -> Result<Vec<u8>, ProviderError> {
        let key = require_string(msg, "key")?;
        let mut b = self.buckets.write().unwrap_or_else(PoisonError::into_inner);
        let chain = &mut b[bucket(&key)];
        let deleted = match chain.iter().position(|e| e.key == key) {
            Some(i) => {
                chain.remove(i);
                true
            }
            None => false,
        };
        Ok(if deleted { b"{\"deleted\":true}".to_vec() } else { b"{\"deleted\":false}".to_vec() })
    }

    fn keys(&self) -> Result<Vec<u8>, ProviderError> {
        let b = self.buckets.read().unwrap_or_else(PoisonError::into_inner);
        let mut out = vec![b'['];
        for e in b.iter().flatten() {
            if out.len() > 1 {
                out.push(b',');
            }
            json::quote_into(&mut out, &e.key);
        }
        out.push(b']');
        Ok(out)
    }

    fn incr(&self, msg: &[u8]) -> Result<Vec<u8>, ProviderError> {
        let key = require_string(msg, "key")?;
        let by = match json::member(msg, "by") {
            Ok(Some(raw)) => json::int(raw).ok_or_else(|| bad_request("\"by\" must be an integer"))?,
            _ => 1,
        };
        let mut b = self.buckets.write().unwrap_or_else(PoisonError::into_inner);
        let chain = &mut b[bucket(&key)];
        let slot = chain.iter().position(|e| e.key == key);
        let now = match slot {
            Some(i) => match json::int(&chain[i].value) {
                Some(v) => v,
                None => {
                    let m = [&b"value of \""[..], &key, b"\" is not an integer"].concat();
                    return Err(ProviderError::provider(message(m)));
                }
            },
            None => 0,
        }
        .wrapping_add(by);
        let text = now.to_string().into_bytes();
        match slot {
            Some(i) => chain[i].value = text,
            None => chain.push(Entry { key, value: text }),
        }
        Ok(format!("{{\"value\":{now}}}").into_bytes())
    }
}

impl Provider for KeyValue {
    fn capability_id(&self) -> &str {
        "wascap:keyvalue"
    }
    fn name(&self) -> &str {
        "Gantry example key-value store (Rust)"
    }
    fn handle_call(&self, _actor: &str, op: &str, payload: &[u8]) -> Result<Vec<u8>, ProviderError> {
        match op {
            "Get" => self.get(payload),
            "Set" => self.set(payload),
            "Del" => self.del(payload),
            "Keys" => self.keys(),
            "Incr" => self.incr(payload),
            // the W3C trace context the host handed this call (the SDK's trace_context())
            "TraceContext" => Ok(trace_context().to_json()),
            _ => Err(ProviderError::unknown_op(message(
                format!("keyvalue has no operation \"{op}\" (Set, Get, Del, Keys, Incr)").into_bytes(),
            ))),
        }
    }
}

export_provider!(KeyValue::new());
