// Package provider writes Gantry native capability providers (provider ABI v1,
// providers/gantry_provider.h) in Go. Build the main package with -buildmode=c-shared:
//
//	package main
//
//	import "C"
//	import "gantry.dev/provider"
//
//	type echo struct{ provider.Base }
//
//	func (echo) CapabilityID() string { return "gantry:echo" }
//	func (echo) Name() string         { return "echo in Go" }
//	func (echo) HandleCall(actor, op string, payload []byte) ([]byte, error) {
//		if op != "Echo" {
//			return nil, provider.UnknownOp("echo has no operation %q", op)
//		}
//		return payload, nil
//	}
//
//	func init() { provider.Register(echo{}) }
//	func main() {}
//
// The SDK exports __capability_provider_create and the C table; replies are copied to C memory
// and freed by free_buffer. A panic in any method is recovered at the boundary: in HandleCall it
// becomes GANTRY_ERR_PROVIDER naming the operation, and the provider keeps serving. HandleCall
// runs concurrently on several host threads. A Go provider cannot be unloaded (the Go runtime
// stays), which the host never asks of it.
//
// Tracing: a Provider that also has HandleCallContext (ContextHandler) is called through it,
// with a context.Context carrying the call's W3C trace context (TraceContextFrom); the SDK's
// table has the handle_call_traced extension, so the host hands the context over.
package provider

/*
#cgo CFLAGS: -I${SRCDIR}/../..
#include <stdlib.h>
#include "gantry_provider.h"
int32_t gantry_go_dispatch(gantry_dispatch_fn fn, void *host_ctx, const char *actor, const char *op, const uint8_t *msg, size_t len);
*/
import "C"

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"unsafe"
)

// Code is one of the ABI's error codes.
type Code int32

const (
	CodeProvider     Code = 1 // GANTRY_ERR_PROVIDER: the operation failed
	CodeBadRequest   Code = 2 // GANTRY_ERR_BAD_REQUEST: the payload could not be understood
	CodeUnknownOp    Code = 3 // GANTRY_ERR_UNKNOWN_OP: no such operation
	CodeUnauthorized Code = 4 // GANTRY_ERR_UNAUTHORIZED: the calling actor may not do this
	CodeOverloaded   Code = 5 // GANTRY_ERR_OVERLOADED: try again later
	CodeConfig       Code = 6 // GANTRY_ERR_CONFIG: configure: the configuration is invalid
	codeNotReady     Code = 7
	codeNoActor      Code = 8
)

// Error is a failed operation: an ABI code and a message for people. Any other error a
// method returns is reported as CodeProvider with its text.
type Error struct {
	Code    Code
	Message string
}

func (e *Error) Error() string { return e.Message }

// Errorf makes an Error with a formatted message.
func Errorf(code Code, format string, a ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, a...)}
}

func BadRequest(format string, a ...any) *Error { return Errorf(CodeBadRequest, format, a...) }
func UnknownOp(format string, a ...any) *Error  { return Errorf(CodeUnknownOp, format, a...) }
func ConfigError(format string, a ...any) *Error {
	return Errorf(CodeConfig, format, a...)
}

// Provider is a capability provider. Embed Base for the optional methods' defaults.
type Provider interface {
	// CapabilityID, e.g. "wascap:keyvalue". Read once, at registration.
	CapabilityID() string
	// Name is human-readable. Read once, at registration.
	Name() string
	// Configure gets the instance's configuration, a JSON object ("{}" when there is none),
	// once before any call. Refuse it with a CodeConfig error.
	Configure(config []byte) error
	// ConfigureDispatch hands over the host's dispatcher, once, after Configure.
	ConfigureDispatch(d Dispatcher)
	// HandleCall serves one call; actor is the caller's verified NATS user key ("anonymous" on a server without the membrane). Runs concurrently.
	HandleCall(actor, op string, payload []byte) ([]byte, error)
	// Stop ends background work. No dispatch may happen after it returns.
	Stop()
}

// ContextHandler is optional: a Provider that has it is called through HandleCallContext
// instead of HandleCall, with a context carrying the call's trace context (TraceContextFrom).
// Runs concurrently, like HandleCall.
type ContextHandler interface {
	HandleCallContext(ctx context.Context, actor, op string, payload []byte) ([]byte, error)
}

// TraceContext is a call's W3C trace context: the traceparent and tracestate header values of
// the host's span for the call (start your spans as its children), both "" when the call is
// not traced. Tracestate comes from the caller: treat it as untrusted input.
type TraceContext struct {
	Traceparent string
	Tracestate  string
}

// Traced says whether the call is traced (it has a traceparent).
func (t TraceContext) Traced() bool { return t.Traceparent != "" }

// JSON is {"traceparent":…,"tracestate":…}, as the example providers' TraceContext operation answers.
func (t TraceContext) JSON() []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // the same bytes as the C and Rust examples
	_ = enc.Encode(struct {
		Traceparent string `json:"traceparent"`
		Tracestate  string `json:"tracestate"`
	}{t.Traceparent, t.Tracestate})
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

type traceKey struct{}

// WithTraceContext returns ctx carrying t (what the SDK hands HandleCallContext; for tests).
func WithTraceContext(ctx context.Context, t TraceContext) context.Context {
	return context.WithValue(ctx, traceKey{}, t)
}

// TraceContextFrom returns the trace context ctx carries; the zero value when the call is not traced.
func TraceContextFrom(ctx context.Context) TraceContext {
	t, _ := ctx.Value(traceKey{}).(TraceContext)
	return t
}

// HealthChecker is optional: a Provider that has it tells the host whether it can serve now.
// A non-nil error takes the instance out of its queue groups until it is healthy again, and
// repeated failures restart it (docs/abi.md#health). Called every few seconds, concurrently
// with HandleCall; keep it quick. Without it (or with Base's) a provider is always healthy.
type HealthChecker interface {
	Health() error
}

// Base gives a Provider the defaults: Configure accepts any JSON object, ConfigureDispatch
// and Stop do nothing, Health says healthy.
type Base struct{}

func (Base) Configure(config []byte) error {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(config, &obj); err != nil || obj == nil {
		return ConfigError("the configuration must be a JSON object")
	}
	return nil
}
func (Base) ConfigureDispatch(Dispatcher) {}
func (Base) Stop()                        {}
func (Base) Health() error                { return nil }

// Dispatcher makes provider → actor calls. Valid from ConfigureDispatch until Stop returns.
type Dispatcher struct {
	fn      C.gantry_dispatch_fn
	hostCtx unsafe.Pointer
}

// Why the host refused a dispatch (docs/abi.md, "The dispatcher").
var (
	ErrOverloaded = errors.New("dispatch refused: too many deliveries pending (GANTRY_ERR_OVERLOADED)")
	ErrNoActor    = errors.New("dispatch refused: the actor was recently unreachable (GANTRY_ERR_NO_ACTOR)")
	ErrNotReady   = errors.New("dispatch refused: the host is stopping (GANTRY_ERR_NOT_READY)")
)

// Dispatch sends op with msg to actor; nil means accepted for delivery.
func (d Dispatcher) Dispatch(actor, op string, msg []byte) error {
	if d.fn == nil {
		return ErrNotReady
	}
	ca, co := C.CString(actor), C.CString(op)
	defer C.free(unsafe.Pointer(ca))
	defer C.free(unsafe.Pointer(co))
	var p *C.uint8_t
	if len(msg) > 0 {
		p = (*C.uint8_t)(unsafe.Pointer(unsafe.SliceData(msg)))
	}
	switch rc := Code(C.gantry_go_dispatch(d.fn, d.hostCtx, ca, co, p, C.size_t(len(msg)))); rc {
	case 0:
		return nil
	case CodeOverloaded:
		return ErrOverloaded
	case codeNoActor:
		return ErrNoActor
	case codeNotReady:
		return ErrNotReady
	default:
		return fmt.Errorf("dispatch refused with code %d", rc)
	}
}

var registered struct {
	sync.Mutex
	p           Provider
	capid, name *C.char
}

// Register makes p the library's provider; call it from the main package's init.
func Register(p Provider) {
	registered.Lock()
	defer registered.Unlock()
	if registered.p != nil {
		panic("gantry provider: Register called twice")
	}
	registered.p = p
	registered.capid = C.CString(p.CapabilityID())
	registered.name = C.CString(p.Name())
}

func current() Provider {
	registered.Lock()
	defer registered.Unlock()
	return registered.p
}

// put hands bytes to the host in C memory (it frees them with free_buffer).
func put(out *C.gantry_buffer, b []byte) {
	if out == nil {
		return
	}
	if len(b) == 0 {
		out.data, out.len = nil, 0
		return
	}
	out.data = (*C.uint8_t)(C.CBytes(b))
	out.len = C.size_t(len(b))
}

// fail reports err in out and returns its code.
func fail(out *C.gantry_buffer, err error, fallback Code) C.int32_t {
	var e *Error
	if errors.As(err, &e) {
		put(out, []byte(e.Message))
		return C.int32_t(e.Code)
	}
	put(out, []byte(err.Error()))
	return C.int32_t(fallback)
}

func bytesOf(p unsafe.Pointer, n C.size_t) []byte {
	if p == nil || n == 0 {
		return nil
	}
	return C.GoBytes(p, C.int(n))
}

//export gantryGoRegistered
func gantryGoRegistered() C.int {
	if current() == nil {
		return 0
	}
	return 1
}

//export gantryGoCapabilityID
func gantryGoCapabilityID() *C.char { return registered.capid }

//export gantryGoName
func gantryGoName() *C.char { return registered.name }

//export gantryGoConfigure
func gantryGoConfigure(config *C.char, n C.size_t, errOut *C.gantry_buffer) (rc C.int32_t) {
	defer func() {
		if r := recover(); r != nil {
			put(errOut, []byte(fmt.Sprintf("provider panicked in configure: %v", r)))
			rc = C.int32_t(CodeConfig)
		}
	}()
	if err := current().Configure(bytesOf(unsafe.Pointer(config), n)); err != nil {
		return fail(errOut, err, CodeConfig)
	}
	return 0
}

//export gantryGoConfigureDispatch
func gantryGoConfigureDispatch(fn C.gantry_dispatch_fn, hostCtx unsafe.Pointer) (rc C.int32_t) {
	defer func() {
		if recover() != nil {
			rc = C.int32_t(CodeProvider)
		}
	}()
	current().ConfigureDispatch(Dispatcher{fn: fn, hostCtx: hostCtx})
	return 0
}

// serve runs one call through HandleCallContext when the provider has it, else HandleCall.
func serve(p Provider, actor, op string, payload []byte, traceparent, tracestate *C.char) ([]byte, error) {
	h, ok := p.(ContextHandler)
	if !ok {
		return p.HandleCall(actor, op, payload)
	}
	ctx := context.Background()
	if t := (TraceContext{C.GoString(traceparent), C.GoString(tracestate)}); t.Traced() {
		ctx = WithTraceContext(ctx, t)
	}
	return h.HandleCallContext(ctx, actor, op, payload)
}

// gantryGoHandleCall serves handle_call ("" trace strings) and handle_call_traced.
//
//export gantryGoHandleCall
func gantryGoHandleCall(actor, op *C.char, msg *C.uint8_t, n C.size_t, traceparent, tracestate *C.char, reply *C.gantry_buffer) (rc C.int32_t) {
	put(reply, nil)
	opName := C.GoString(op)
	defer func() {
		if r := recover(); r != nil {
			put(reply, []byte(fmt.Sprintf("provider panicked in %s: %v", opName, r)))
			rc = C.int32_t(CodeProvider)
		}
	}()
	body, err := serve(current(), C.GoString(actor), opName, bytesOf(unsafe.Pointer(msg), n), traceparent, tracestate)
	if err != nil {
		return fail(reply, err, CodeProvider)
	}
	put(reply, body)
	return 0
}

//export gantryGoStop
func gantryGoStop() {
	defer func() { _ = recover() }()
	current().Stop()
}

//export gantryGoHealth
func gantryGoHealth(message *C.gantry_buffer) (rc C.int32_t) {
	put(message, nil)
	defer func() {
		if r := recover(); r != nil {
			put(message, []byte(fmt.Sprintf("provider panicked in health: %v", r)))
			rc = C.int32_t(CodeProvider)
		}
	}()
	h, ok := current().(HealthChecker)
	if !ok {
		return 0
	}
	if err := h.Health(); err != nil {
		return fail(message, err, CodeProvider)
	}
	return 0
}
