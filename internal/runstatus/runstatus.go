// Package runstatus names the states of a run, once for the engine, the transaction log, the
// run service, the worker, the API, the client and the CLI. It imports nothing of the hub, so
// that the engine can use it without the bus or the store.
package runstatus

import (
	"fmt"
	"strings"
)

// Status is the state of a run, as stored in the transaction log and shown by the API.
type Status string

// The statuses. A run is queued (the hub) or running (a copy, or a worker took it), may be
// asked to stop (cancel_requested), and ends in one of the final four.
const (
	Queued          Status = "queued"
	Running         Status = "running"
	Succeeded       Status = "succeeded"
	Failed          Status = "failed"
	Partial         Status = "partial" // finished, some records rejected
	Canceled        Status = "canceled"
	CancelRequested Status = "cancel_requested"
)

// all is every status in the order the API's enum has always listed them.
var all = []Status{Queued, Running, Succeeded, Failed, Partial, Canceled, CancelRequested}

// All returns every status (a fresh slice), for enums and help texts.
func All() []Status { return append([]Status(nil), all...) }

// Strings returns every status as text.
func Strings() []string {
	out := make([]string, len(all))
	for i, s := range all {
		out[i] = string(s)
	}
	return out
}

// Final reports whether s is an end state: succeeded, partial, failed or canceled.
func (s Status) Final() bool {
	switch s {
	case Succeeded, Partial, Failed, Canceled:
		return true
	}
	return false
}

// Valid reports whether s is one of the statuses.
func (s Status) Valid() bool {
	for _, v := range all {
		if s == v {
			return true
		}
	}
	return false
}

// Parse reads a status, refusing an unknown one.
func Parse(s string) (Status, error) {
	if st := Status(s); st.Valid() {
		return st, nil
	}
	return "", fmt.Errorf("unknown run status %q: want one of %s", s, strings.Join(Strings(), ", "))
}

// Resumable reports whether a run in status s may be resumed from its checkpoint: it failed or
// was cancelled.
func (s Status) Resumable() bool { return s == Failed || s == Canceled }
