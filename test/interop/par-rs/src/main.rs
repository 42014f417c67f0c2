//! `par-rs inspect <file>` and `par-rs create <out> …`: wasmCloud's provider-archive 0.16.2
//! and wascap 0.16.2 crates, as wasmCloud's own tools use them, so the interop test compares
//! what Gantry writes and reads with what those crates write and read (docs/par.md).
//! Output is one JSON object on stdout; a refusal is `{"ok":false,"error":"…"}` with exit 1.
use data_encoding::BASE64URL_NOPAD;
use provider_archive::ProviderArchive;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use wascap::jwt::{validate_token, CapabilityProvider};
use wascap::prelude::KeyPair;

type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

const USAGE: &str = "usage: par-rs inspect <file>\n       par-rs create <out> --name N --vendor V --rev N [--ver V] --target <arch-os>=<lib>… --issuer-seed <file> --subject-seed <file> [--compress]";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
    let result = match args.first().map(String::as_str) {
        Some("inspect") if args.len() == 2 => rt.block_on(inspect(&args[1])),
        Some("create") if args.len() >= 2 => rt.block_on(create(&args[1], &args[2..])),
        _ => {
            eprintln!("{USAGE}");
            std::process::exit(2);
        }
    };
    match result {
        Ok(v) => println!("{v}"),
        Err(e) => {
            println!("{}", json!({ "ok": false, "error": e.to_string() }));
            std::process::exit(1);
        }
    }
}

/// Loads with `try_load` (which checks every binary against its signed hash) and validates the
/// claims token with wascap's `validate_token` (signature, expiry, not-before).
async fn inspect(file: &str) -> Res<Value> {
    let bytes = std::fs::read(file)?;
    let par = ProviderArchive::try_load(&bytes).await?;
    let token = par.claims_token().ok_or("archive loaded without claims")?;
    let claims = &token.claims;
    let meta = claims.metadata.as_ref().ok_or("claims without wascap metadata")?;
    let validation = validate_token::<CapabilityProvider>(&token.jwt)?;
    let hashes: BTreeMap<_, _> = meta.target_hashes.iter().collect();
    let mut loaded = par.targets();
    loaded.sort();
    Ok(json!({
        "ok": true,
        "name": meta.name,
        "vendor": meta.vendor,
        // the crate's CapabilityProvider has no capid; this is the signed payload's, unparsed
        "capid": payload_capid(&token.jwt),
        "version": meta.ver,
        "revision": meta.rev,
        "issuer": claims.issuer,
        "subject": claims.subject,
        "targetHashes": hashes,
        "loadedTargets": loaded,
        "signatureValid": validation.signature_valid,
        "expired": validation.expired,
        "cannotUseYet": validation.cannot_use_yet,
    }))
}

fn payload_capid(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).and_then(|p| BASE64URL_NOPAD.decode(p.as_bytes()).ok());
    let parsed: Option<Value> = payload.and_then(|p| serde_json::from_slice(&p).ok());
    parsed.and_then(|v| v.get("wascap").and_then(|w| w.get("capid")).cloned()).unwrap_or(Value::Null)
}

/// Writes with `ProviderArchive::write`, exactly as `wash par create` does: a GNU tar, gzip'd
/// with `--compress` (the crate then appends `.gz` unless the name already ends in it).
async fn create(out: &str, rest: &[String]) -> Res<Value> {
    let mut flags: Map<String, Value> = Map::new();
    let mut targets: Vec<(String, String)> = Vec::new();
    let mut compress = false;
    let mut it = rest.iter();
    while let Some(flag) = it.next() {
        if flag == "--compress" {
            compress = true;
            continue;
        }
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--target" => {
                let (t, lib) = value.split_once('=').ok_or_else(|| format!("--target wants <arch-os>=<lib>, got {value}"))?;
                targets.push((t.to_string(), lib.to_string()));
            }
            "--name" | "--vendor" | "--rev" | "--ver" | "--issuer-seed" | "--subject-seed" => {
                flags.insert(flag.clone(), Value::String(value.clone()));
            }
            _ => return Err(format!("unknown flag {flag}\n{USAGE}").into()),
        }
    }
    let get = |k: &str| flags.get(k).and_then(Value::as_str).map(str::to_string);
    let need = |k: &str| get(k).ok_or_else(|| format!("{k} is required"));
    let rev: i32 = need("--rev")?.parse().map_err(|_| "--rev must be an integer")?;
    if targets.is_empty() {
        return Err("at least one --target is required".into());
    }
    let issuer = KeyPair::from_seed(std::fs::read_to_string(need("--issuer-seed")?)?.trim())?;
    let subject = KeyPair::from_seed(std::fs::read_to_string(need("--subject-seed")?)?.trim())?;
    let mut par = ProviderArchive::new(&need("--name")?, &need("--vendor")?, Some(rev), get("--ver"));
    for (t, lib) in &targets {
        par.add_library(t, &std::fs::read(lib)?)?;
    }
    par.write(out, &issuer, &subject, compress).await?;
    let written = if compress && !out.ends_with("gz") { format!("{out}.gz") } else { out.to_string() };
    let token = par.claims_token().ok_or("no claims after write")?;
    Ok(json!({ "ok": true, "file": written, "issuer": token.claims.issuer, "subject": token.claims.subject }))
}
