// A NATS client that is not Gantry's (nats.go): connects with a .creds file and makes one
// request, so the membrane test shows `gantry grant creds` output works with any NATS client.
// Usage: credscheck URL CREDS INBOX_PREFIX SUBJECT DATA
package main

import (
	"fmt"
	"os"
	"time"

	"github.com/nats-io/nats.go"
)

func main() {
	nc, err := nats.Connect(os.Args[1], nats.UserCredentials(os.Args[2]), nats.CustomInboxPrefix(os.Args[3]),
		// nats.go reports a refused publish asynchronously, not on the request.
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { fmt.Println("ASYNC_ERROR", err) }))
	if err != nil {
		fmt.Println("CONNECT_ERROR", err)
		os.Exit(2)
	}
	defer nc.Close()
	m, err := nc.Request(os.Args[4], []byte(os.Args[5]), 2*time.Second)
	if err != nil {
		fmt.Println("REQUEST_ERROR", err)
		os.Exit(3)
	}
	fmt.Println("REPLY", string(m.Data))
}
