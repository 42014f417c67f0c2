// echo-go — the echo example provider (capid gantry:echo) written with the Go SDK. Same
// operation and replies as providers/echo.c (test/vectors/echo.json): Echo returns its payload,
// prefixed by the configuration's optional {"prefix":"…"}; other configuration is refused.
// TraceContext answers the call's W3C trace context as the SDK hands it to HandleCallContext.
package main

import "C"

import (
	"context"
	"encoding/json"

	"gantry.dev/provider"
)

type echo struct {
	provider.Base
	prefix []byte // set once by Configure, before any call
}

func (*echo) CapabilityID() string { return "gantry:echo" }
func (*echo) Name() string         { return "Gantry example echo (Go)" }

func (e *echo) Configure(config []byte) error {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(config, &obj); err != nil || obj == nil {
		return provider.ConfigError("echo: configuration must be a JSON object")
	}
	raw, ok := obj["prefix"]
	if !ok {
		return nil
	}
	var prefix string
	if err := json.Unmarshal(raw, &prefix); err != nil {
		return provider.ConfigError("echo: \"prefix\" must be a string")
	}
	e.prefix = []byte(prefix)
	return nil
}

// HandleCallContext is how the SDK calls a provider that has it: ctx carries the trace context.
func (e *echo) HandleCallContext(ctx context.Context, actor, op string, payload []byte) ([]byte, error) {
	if op == "TraceContext" {
		return provider.TraceContextFrom(ctx).JSON(), nil
	}
	return e.HandleCall(actor, op, payload)
}

func (e *echo) HandleCall(actor, op string, payload []byte) ([]byte, error) {
	if op != "Echo" {
		// echo.c formats into 512 bytes: at most 511 survive.
		msg := "echo has no operation \"" + op + "\" (Echo)"
		if len(msg) > 511 {
			msg = msg[:511]
		}
		return nil, &provider.Error{Code: provider.CodeUnknownOp, Message: msg}
	}
	return append(append(make([]byte, 0, len(e.prefix)+len(payload)), e.prefix...), payload...), nil
}

func init() { provider.Register(&echo{}) }

func main() {}
