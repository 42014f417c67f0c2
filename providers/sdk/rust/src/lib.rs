//! Write a Gantry native capability provider (provider ABI v1, `providers/gantry_provider.h`)
//! in safe Rust.
//!
//! Implement [`Provider`] and export it with [`export_provider!`]; build the crate as a
//! `cdylib`. The macro exports `__capability_provider_create` and the C table, and every call
//! from the host goes through a boundary that catches panics: a panic in `handle_call` becomes
//! a `GANTRY_ERR_PROVIDER` reply naming the operation, never an unwind into the host, and the
//! provider keeps serving.
//!
//! ```no_run
//! use gantry_provider::{export_provider, Provider, ProviderError};
//!
//! #[derive(Default)]
//! struct Echo;
//!
//! impl Provider for Echo {
//!     fn capability_id(&self) -> &str { "gantry:echo" }
//!     fn name(&self) -> &str { "echo in Rust" }
//!     fn handle_call(&self, _actor: &str, op: &str, payload: &[u8]) -> Result<Vec<u8>, ProviderError> {
//!         match op {
//!             "Echo" => Ok(payload.to_vec()),
//!             _ => Err(ProviderError::unknown_op(format!("echo has no operation \"{op}\""))),
//!         }
//!     }
//! }
//!
//! export_provider!(Echo::default());
//! ```
//!
//! Threads: the host calls `handle_call` from several threads at once, so a provider is
//! `Send + Sync` and guards its state itself. A lock held while a call panics is poisoned;
//! recover it with `lock().unwrap_or_else(std::sync::PoisonError::into_inner)` when the state
//! it guards is still consistent (keyvalue-rs does), or the provider fails every later call.
//!
//! Tracing: during `handle_call`, [`trace_context()`] returns the call's W3C trace context
//! (the host's span for it: start your own spans as its children), empty when the call is not
//! traced. The SDK's table has the `handle_call_traced` extension, so the host hands it over.

use std::cell::Cell;
use std::ffi::{c_char, c_void, CStr, CString};
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::OnceLock;

pub mod json;

/// The C ABI, as `providers/gantry_provider.h` declares it.
pub mod ffi {
    use std::ffi::{c_char, c_void};

    /// `GANTRY_ABI_VERSION`
    pub const ABI_VERSION: u32 = 1;
    pub const OK: i32 = 0;
    pub const ERR_PROVIDER: i32 = 1;
    pub const ERR_BAD_REQUEST: i32 = 2;
    pub const ERR_UNKNOWN_OP: i32 = 3;
    pub const ERR_UNAUTHORIZED: i32 = 4;
    pub const ERR_OVERLOADED: i32 = 5;
    pub const ERR_CONFIG: i32 = 6;
    pub const ERR_NOT_READY: i32 = 7;
    pub const ERR_NO_ACTOR: i32 = 8;
    /// `GANTRY_FLAG_EXTENSIONS`: the table continues with `ext_size` and extension fields.
    pub const FLAG_EXTENSIONS: u32 = 1;

    /// `gantry_buffer`: bytes handed from provider to host, freed with `free_buffer`.
    #[repr(C)]
    pub struct Buffer {
        pub data: *mut u8,
        pub len: usize,
    }

    /// `gantry_dispatch_fn`
    pub type DispatchFn =
        unsafe extern "C" fn(host_ctx: *mut c_void, actor: *const c_char, op: *const c_char, msg: *const u8, len: usize) -> i32;

    /// `gantry_provider`: the table `__capability_provider_create` returns.
    #[repr(C)]
    pub struct Table {
        pub abi_version: u32,
        pub flags: u32,
        pub ctx: *mut c_void,
        pub capability_id: unsafe extern "C" fn(ctx: *mut c_void) -> *const c_char,
        pub name: unsafe extern "C" fn(ctx: *mut c_void) -> *const c_char,
        pub configure: Option<unsafe extern "C" fn(ctx: *mut c_void, json: *const c_char, len: usize, error: *mut Buffer) -> i32>,
        pub configure_dispatch: unsafe extern "C" fn(ctx: *mut c_void, dispatch: Option<DispatchFn>, host_ctx: *mut c_void) -> i32,
        pub handle_call: unsafe extern "C" fn(
            ctx: *mut c_void,
            actor: *const c_char,
            op: *const c_char,
            msg: *const u8,
            len: usize,
            reply: *mut Buffer,
        ) -> i32,
        pub free_buffer: unsafe extern "C" fn(ctx: *mut c_void, data: *mut u8, len: usize),
        pub stop: unsafe extern "C" fn(ctx: *mut c_void),
        /// Extensions (read by the host only with `FLAG_EXTENSIONS`): bytes from here to the end.
        pub ext_size: usize,
        pub health: Option<unsafe extern "C" fn(ctx: *mut c_void, message: *mut Buffer) -> i32>,
        /// handle_call with the call's W3C traceparent and tracestate ("" when untraced); when
        /// set, the host calls it for every call instead of handle_call.
        pub handle_call_traced: Option<
            unsafe extern "C" fn(
                ctx: *mut c_void,
                actor: *const c_char,
                op: *const c_char,
                msg: *const u8,
                len: usize,
                traceparent: *const c_char,
                tracestate: *const c_char,
                reply: *mut Buffer,
            ) -> i32,
        >,
    }

    /// `GANTRY_EXT_SIZE`: the extension block of this table.
    pub const EXT_SIZE: usize = std::mem::size_of::<Table>() - std::mem::offset_of!(Table, ext_size);
}

/// A call's W3C trace context: the `traceparent` and `tracestate` header values of the host's
/// span for the call, both empty when the call is not traced. `tracestate` comes from the
/// caller: treat it as untrusted input.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TraceContext {
    pub traceparent: String,
    pub tracestate: String,
}

impl TraceContext {
    /// Whether the call is traced (it has a traceparent).
    pub fn is_traced(&self) -> bool {
        !self.traceparent.is_empty()
    }

    /// `{"traceparent":…,"tracestate":…}`, as the example providers' `TraceContext` operation answers.
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = b"{\"traceparent\":".to_vec();
        json::quote_into(&mut out, self.traceparent.as_bytes());
        out.extend_from_slice(b",\"tracestate\":");
        json::quote_into(&mut out, self.tracestate.as_bytes());
        out.push(b'}');
        out
    }
}

thread_local! {
    /// The host's trace strings for the call this thread is serving; null outside a call.
    static CURRENT_TRACE: Cell<(*const c_char, *const c_char)> = const { Cell::new((std::ptr::null(), std::ptr::null())) };
}

/// The trace context of the call this thread is serving, copied (the host's strings live only
/// for the call). Empty outside `handle_call` and on threads the provider started itself: pass
/// it on to them.
pub fn trace_context() -> TraceContext {
    let (tp, ts) = CURRENT_TRACE.with(Cell::get);
    // SAFETY: set only while the host's call on this thread runs, with its NUL-terminated strings.
    let text = |p: *const c_char| if p.is_null() { String::new() } else { unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned() };
    TraceContext { traceparent: text(tp), tracestate: text(ts) }
}

/// Makes the host's trace strings the current ones until dropped (also when the call panics).
struct TraceScope;

impl TraceScope {
    fn enter(traceparent: *const c_char, tracestate: *const c_char) -> TraceScope {
        CURRENT_TRACE.with(|c| c.set((traceparent, tracestate)));
        TraceScope
    }
}

impl Drop for TraceScope {
    fn drop(&mut self) {
        CURRENT_TRACE.with(|c| c.set((std::ptr::null(), std::ptr::null())));
    }
}

/// Why an operation (or `configure`) failed: one of the ABI's error codes and a message for people.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// The operation failed (`GANTRY_ERR_PROVIDER`).
    Provider = 1,
    /// The payload could not be understood (`GANTRY_ERR_BAD_REQUEST`).
    BadRequest = 2,
    /// No such operation (`GANTRY_ERR_UNKNOWN_OP`).
    UnknownOp = 3,
    /// The calling actor may not do this (`GANTRY_ERR_UNAUTHORIZED`).
    Unauthorized = 4,
    /// Try again later (`GANTRY_ERR_OVERLOADED`).
    Overloaded = 5,
    /// `configure`: the configuration is invalid (`GANTRY_ERR_CONFIG`).
    Config = 6,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderError {
    pub code: ErrorCode,
    pub message: String,
}

impl ProviderError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ProviderError { code, message: message.into() }
    }
    pub fn provider(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Provider, message)
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::BadRequest, message)
    }
    pub fn unknown_op(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::UnknownOp, message)
    }
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unauthorized, message)
    }
    pub fn overloaded(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Overloaded, message)
    }
    pub fn config(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Config, message)
    }
}

impl fmt::Display for ProviderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {}", self.code, self.message)
    }
}

impl std::error::Error for ProviderError {}

/// Why the host refused a provider → actor call (see docs/abi.md, "The dispatcher").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DispatchError {
    /// Too many deliveries are pending: the actor side is slow (`GANTRY_ERR_OVERLOADED`).
    Overloaded,
    /// A recent delivery to this actor found nobody subscribed (`GANTRY_ERR_NO_ACTOR`).
    NoActor,
    /// The host is stopping (`GANTRY_ERR_NOT_READY`).
    NotReady,
    /// The actor or operation name contains a NUL byte and cannot cross the C ABI.
    InvalidName,
    /// Any other code the host returned.
    Other(i32),
}

/// The host's dispatcher: provider → actor calls. Cheap to copy; usable from any thread from
/// the moment `configure_dispatch` gets it until `stop` returns (never after).
#[derive(Clone, Copy)]
pub struct Dispatcher {
    dispatch: ffi::DispatchFn,
    host_ctx: *mut c_void,
}

// The host's dispatcher may be called from any thread (gantry_provider.h).
unsafe impl Send for Dispatcher {}
unsafe impl Sync for Dispatcher {}

impl Dispatcher {
    /// Send `op` with `msg` to `actor`. `Ok` means accepted for delivery; the actor's reply is
    /// not returned. A refused message is not delivered.
    pub fn dispatch(&self, actor: &str, op: &str, msg: &[u8]) -> Result<(), DispatchError> {
        let actor = CString::new(actor).map_err(|_| DispatchError::InvalidName)?;
        let op = CString::new(op).map_err(|_| DispatchError::InvalidName)?;
        // SAFETY: the host copies every argument before it returns.
        let rc = unsafe { (self.dispatch)(self.host_ctx, actor.as_ptr(), op.as_ptr(), msg.as_ptr(), msg.len()) };
        match rc {
            ffi::OK => Ok(()),
            ffi::ERR_OVERLOADED => Err(DispatchError::Overloaded),
            ffi::ERR_NO_ACTOR => Err(DispatchError::NoActor),
            ffi::ERR_NOT_READY => Err(DispatchError::NotReady),
            other => Err(DispatchError::Other(other)),
        }
    }
}

/// A capability provider. `handle_call` runs concurrently on several host threads.
pub trait Provider: Send + Sync + 'static {
    /// The capability id, e.g. `wascap:keyvalue`. Read once, when the library is loaded.
    fn capability_id(&self) -> &str;
    /// A human-readable name. Read once, when the library is loaded.
    fn name(&self) -> &str;
    /// The instance's configuration, a JSON object (`{}` when there is none); called once before
    /// any call. Refuse it with [`ProviderError::config`]. The default accepts any JSON object
    /// and refuses anything else.
    fn configure(&self, config_json: &[u8]) -> Result<(), ProviderError> {
        json::members(config_json)
            .map(|_| ())
            .map_err(|_| ProviderError::config(format!("{}: the configuration must be a JSON object", self.name())))
    }
    /// The host's dispatcher, for provider → actor calls; called once, after `configure`.
    fn configure_dispatch(&self, dispatcher: Dispatcher) {
        let _ = dispatcher;
    }
    /// Serve one call. `actor` is the caller's verified NATS user key (`"anonymous"` on a server without the membrane); `payload` is opaque bytes.
    /// [`trace_context()`] gives the call's trace context meanwhile.
    fn handle_call(&self, actor: &str, op: &str, payload: &[u8]) -> Result<Vec<u8>, ProviderError>;
    /// Stop background work; join your threads. No dispatch may happen after it returns.
    fn stop(&self) {}
    /// Whether the provider can serve now: `Err(why)` makes the host take this instance out of
    /// its queue groups until it is healthy again, and repeated failures restart it
    /// (docs/abi.md#health). Called every few seconds, concurrently with `handle_call`; keep it
    /// quick. The default is always healthy.
    fn health(&self) -> Result<(), String> {
        Ok(())
    }
}

/// What the macro exports: the provider, the strings the host reads, and the C table.
#[doc(hidden)]
pub struct Exported {
    provider: Box<dyn Provider>,
    capability_id: CString,
    name: CString,
    table: ffi::Table,
}

// The table holds a pointer to its own Exported; the provider is Send + Sync.
unsafe impl Send for Exported {}
unsafe impl Sync for Exported {}

#[doc(hidden)]
pub mod __private {
    pub type Cell = std::sync::OnceLock<Option<Box<super::Exported>>>;
    pub use super::create;
}

/// Build the table once (the host may call `__capability_provider_create` more than once and
/// gets the same table). A constructor that panics, or strings with NUL bytes, give NULL.
#[doc(hidden)]
pub fn create(cell: &'static OnceLock<Option<Box<Exported>>>, make: impl FnOnce() -> Box<dyn Provider>) -> *const ffi::Table {
    let exported = cell.get_or_init(|| {
        let provider = catch_unwind(AssertUnwindSafe(make)).ok()?;
        let strings = catch_unwind(AssertUnwindSafe(|| (CString::new(provider.capability_id()), CString::new(provider.name())))).ok()?;
        let (Ok(capability_id), Ok(name)) = strings else {
            eprintln!("gantry-provider: capability_id() and name() must not contain NUL bytes");
            return None;
        };
        let mut e = Box::new(Exported {
            provider,
            capability_id,
            name,
            table: ffi::Table {
                abi_version: ffi::ABI_VERSION,
                flags: ffi::FLAG_EXTENSIONS,
                ctx: std::ptr::null_mut(),
                capability_id: c_capability_id,
                name: c_name,
                configure: Some(c_configure),
                configure_dispatch: c_configure_dispatch,
                handle_call: c_handle_call,
                free_buffer: c_free_buffer,
                stop: c_stop,
                ext_size: ffi::EXT_SIZE,
                health: Some(c_health),
                handle_call_traced: Some(c_handle_call_traced),
            },
        });
        e.table.ctx = &*e as *const Exported as *mut c_void;
        Some(e)
    });
    match exported {
        Some(e) => &e.table,
        None => std::ptr::null(),
    }
}

/// Export a [`Provider`] as a Gantry provider library: `export_provider!(MyProvider::new());`
/// The expression runs once, the first time the host asks for the table.
#[macro_export]
macro_rules! export_provider {
    ($make:expr) => {
        #[unsafe(no_mangle)]
        pub extern "C" fn __capability_provider_create() -> *const $crate::ffi::Table {
            static EXPORTED: $crate::__private::Cell = $crate::__private::Cell::new();
            $crate::__private::create(&EXPORTED, || ::std::boxed::Box::new($make))
        }
    };
}

unsafe fn exported<'a>(ctx: *mut c_void) -> &'a Exported {
    &*(ctx as *const Exported)
}

/// Hand bytes to the host; it gives them back through free_buffer.
unsafe fn put(out: *mut ffi::Buffer, bytes: Vec<u8>) {
    if out.is_null() {
        return;
    }
    if bytes.is_empty() {
        *out = ffi::Buffer { data: std::ptr::null_mut(), len: 0 };
        return;
    }
    let boxed = bytes.into_boxed_slice();
    let len = boxed.len();
    *out = ffi::Buffer { data: Box::into_raw(boxed) as *mut u8, len };
}

/// The message a panic carried, for the error reply.
fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "(no message)".to_string()
    }
}

unsafe fn bytes<'a>(p: *const u8, len: usize) -> &'a [u8] {
    if p.is_null() || len == 0 {
        &[]
    } else {
        std::slice::from_raw_parts(p, len)
    }
}

unsafe extern "C" fn c_capability_id(ctx: *mut c_void) -> *const c_char {
    exported(ctx).capability_id.as_ptr()
}

unsafe extern "C" fn c_name(ctx: *mut c_void) -> *const c_char {
    exported(ctx).name.as_ptr()
}

unsafe extern "C" fn c_configure(ctx: *mut c_void, json: *const c_char, len: usize, error: *mut ffi::Buffer) -> i32 {
    let e = exported(ctx);
    let config = bytes(json as *const u8, len);
    match catch_unwind(AssertUnwindSafe(|| e.provider.configure(config))) {
        Ok(Ok(())) => ffi::OK,
        Ok(Err(err)) => {
            put(error, err.message.into_bytes());
            err.code as i32
        }
        Err(p) => {
            put(error, format!("provider panicked in configure: {}", panic_message(&*p)).into_bytes());
            ffi::ERR_CONFIG
        }
    }
}

unsafe extern "C" fn c_configure_dispatch(ctx: *mut c_void, dispatch: Option<ffi::DispatchFn>, host_ctx: *mut c_void) -> i32 {
    let e = exported(ctx);
    let Some(dispatch) = dispatch else { return ffi::ERR_PROVIDER };
    match catch_unwind(AssertUnwindSafe(|| e.provider.configure_dispatch(Dispatcher { dispatch, host_ctx }))) {
        Ok(()) => ffi::OK,
        Err(_) => ffi::ERR_PROVIDER,
    }
}

unsafe extern "C" fn c_handle_call(
    ctx: *mut c_void,
    actor: *const c_char,
    op: *const c_char,
    msg: *const u8,
    len: usize,
    reply: *mut ffi::Buffer,
) -> i32 {
    c_handle_call_traced(ctx, actor, op, msg, len, std::ptr::null(), std::ptr::null(), reply)
}

#[allow(clippy::too_many_arguments)]
unsafe extern "C" fn c_handle_call_traced(
    ctx: *mut c_void,
    actor: *const c_char,
    op: *const c_char,
    msg: *const u8,
    len: usize,
    traceparent: *const c_char,
    tracestate: *const c_char,
    reply: *mut ffi::Buffer,
) -> i32 {
    let e = exported(ctx);
    let _scope = TraceScope::enter(traceparent, tracestate);
    put(reply, Vec::new());
    let text = |p: *const c_char| if p.is_null() { Ok("") } else { CStr::from_ptr(p).to_str() };
    let (Ok(actor), Ok(op)) = (text(actor), text(op)) else {
        put(reply, b"the actor or operation name is not UTF-8".to_vec());
        return ffi::ERR_BAD_REQUEST;
    };
    let payload = bytes(msg, len);
    match catch_unwind(AssertUnwindSafe(|| e.provider.handle_call(actor, op, payload))) {
        Ok(Ok(body)) => {
            put(reply, body);
            ffi::OK
        }
        Ok(Err(err)) => {
            put(reply, err.message.into_bytes());
            err.code as i32
        }
        Err(p) => {
            put(reply, format!("provider panicked in {op}: {}", panic_message(&*p)).into_bytes());
            ffi::ERR_PROVIDER
        }
    }
}

unsafe extern "C" fn c_free_buffer(_ctx: *mut c_void, data: *mut u8, len: usize) {
    if !data.is_null() {
        drop(Box::from_raw(std::ptr::slice_from_raw_parts_mut(data, len)));
    }
}

unsafe extern "C" fn c_stop(ctx: *mut c_void) {
    let e = exported(ctx);
    // A panic in stop cannot be reported; it must not unwind into the host either.
    let _ = catch_unwind(AssertUnwindSafe(|| e.provider.stop()));
}

unsafe extern "C" fn c_health(ctx: *mut c_void, message: *mut ffi::Buffer) -> i32 {
    let e = exported(ctx);
    put(message, Vec::new());
    match catch_unwind(AssertUnwindSafe(|| e.provider.health())) {
        Ok(Ok(())) => ffi::OK,
        Ok(Err(why)) => {
            put(message, why.into_bytes());
            ffi::ERR_PROVIDER
        }
        Err(p) => {
            put(message, format!("provider panicked in health: {}", panic_message(&*p)).into_bytes());
            ffi::ERR_PROVIDER
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_context_is_the_calls_only_while_it_runs() {
        assert_eq!(trace_context(), TraceContext::default());
        let (tp, ts) = (CString::new("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap(), CString::new("a=\"b\\").unwrap());
        {
            let _scope = TraceScope::enter(tp.as_ptr(), ts.as_ptr());
            let t = trace_context();
            assert!(t.is_traced());
            assert_eq!(t.to_json(), br#"{"traceparent":"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01","tracestate":"a=\"b\\"}"#);
            // another thread serves another call: it does not see this one's
            assert_eq!(std::thread::spawn(trace_context).join().unwrap(), TraceContext::default());
        }
        assert_eq!(trace_context(), TraceContext::default());
        // a panic inside the call still ends the scope
        let _ = catch_unwind(|| {
            let _scope = TraceScope::enter(tp.as_ptr(), ts.as_ptr());
            panic!("in the call");
        });
        assert!(!trace_context().is_traced());
    }
}
