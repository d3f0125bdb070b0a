package client

import (
	"net/url"
	"time"
)

// listQuery is the query of a filtered, paged list; empty values are left out.
type listQuery url.Values

func (q listQuery) set(k, v string) {
	if v != "" {
		url.Values(q).Set(k, v)
	}
}

// window adds the time range, page size and cursor every list of the API takes.
func (q listQuery) window(since, until time.Time, limit int, cursor string) {
	if !since.IsZero() {
		q.set("since", since.UTC().Format(time.RFC3339Nano))
	}
	if !until.IsZero() {
		q.set("until", until.UTC().Format(time.RFC3339Nano))
	}
	if limit > 0 {
		q.set("limit", itoa(limit))
	}
	q.set("cursor", cursor)
}
