// panicky — a provider that panics on request (capid gantry:panicky), for the Go SDK's tests:
// Panic panics while holding the provider's lock, Count counts calls under that lock, so a test
// can see that a panic becomes GANTRY_ERR_PROVIDER and the provider keeps serving.
package main

import "C"

import (
	"fmt"
	"strconv"
	"sync"

	"gantry.dev/provider"
)

type panicky struct {
	provider.Base
	mu    sync.Mutex
	calls int
}

func (*panicky) CapabilityID() string { return "gantry:panicky" }
func (*panicky) Name() string         { return "Gantry Go SDK panic test" }

func (p *panicky) HandleCall(actor, op string, payload []byte) ([]byte, error) {
	p.mu.Lock()
	defer p.mu.Unlock() // runs while the panic unwinds, so the lock is released
	p.calls++
	switch op {
	case "Count":
		return []byte(strconv.Itoa(p.calls)), nil
	case "Panic":
		panic(fmt.Sprintf("asked to panic after %d calls", p.calls))
	default:
		return nil, provider.UnknownOp("panicky has no operation %q (Count, Panic)", op)
	}
}

func init() { provider.Register(&panicky{}) }

func main() {}
