package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/datahub-oss/datahub/internal/audit"
	"github.com/datahub-oss/datahub/internal/auth"
	"github.com/datahub-oss/datahub/internal/catalog"
)

type auditListInput struct {
	Limit  int    `query:"limit" minimum:"1" maximum:"1000" default:"50" doc:"Page size"`
	Cursor string `query:"cursor" doc:"The next cursor of the previous page"`
	Actor  string `query:"actor"`
	Action string `query:"action" doc:"Exact action, or a prefix ending in * (resource.*)"`
	Kind   string `query:"kind" doc:"Target kind (System, Integration, User, Secret, Token ...)"`
	Name   string `query:"name" doc:"Target name"`
	Since  string `query:"since" doc:"RFC 3339 time, date (2006-01-02) or duration back from now (24h)"`
	Until  string `query:"until" doc:"RFC 3339 time, date or duration back from now; exclusive"`
}

type verifyBody struct {
	OK          bool   `json:"ok"`
	Entries     int64  `json:"entries" doc:"Entries verified before the first problem (all when ok)"`
	FirstBadSeq int64  `json:"first_bad_seq,omitempty"`
	Reason      string `json:"reason,omitempty"`
	HeadSeq     int64  `json:"head_seq" doc:"The chain's last seq as its head records it"`
	HeadHash    string `json:"head_hash" doc:"That entry's hash"`
	Scheme      string `json:"scheme,omitempty" doc:"How entries are chained: hmac-sha256-v1 (keyed) or sha256 (plain)"`
	KeyID       string `json:"key_id,omitempty" doc:"The id of the master key the chain is keyed with"`
	Anchor      string `json:"anchor,omitempty" doc:"The anchor (SEQ:HASH) the chain was checked against"`
	AnchorFrom  string `json:"anchor_from,omitempty" enum:"request,file" doc:"Where the anchor came from: the request, or the server's anchor file"`
}

type verifyInput struct {
	Anchor string `query:"anchor" maxLength:"100" doc:"Also check the chain against this anchor, SEQ:HASH (a seq and that entry's hash, from an anchor file or an audit.anchor event): a chain that ends before SEQ was rolled back, one with another hash there was rewritten. Without it, the server checks against the latest anchor in its own anchor file."`
}

// parseWhen reads a time bound: RFC 3339, a date, or a duration back from now.
func parseWhen(field, s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, apiError(http.StatusUnprocessableEntity, fmt.Sprintf("%s %q: want an RFC 3339 time, a date (2006-01-02) or a duration (24h)", field, s))
}

func (s *server) auditRoutes() {
	tags := []string{"audit"}
	register(s, auth.PermAuditRead, huma.Operation{
		OperationID: "list-audit", Method: http.MethodGet, Path: BasePath + "/audit", Tags: tags,
		Summary: "List audit entries, newest first",
	}, func(ctx context.Context, in *auditListInput) (*struct{ Body page[audit.Entry] }, error) {
		now := time.Now()
		since, err := parseWhen("since", in.Since, now)
		if err != nil {
			return nil, err
		}
		until, err := parseWhen("until", in.Until, now)
		if err != nil {
			return nil, err
		}
		var after int64
		if in.Cursor != "" {
			if after, err = strconv.ParseInt(in.Cursor, 10, 64); err != nil || after <= 0 {
				return nil, apiError(http.StatusUnprocessableEntity, "invalid cursor")
			}
		}
		kind := in.Kind
		if k, err := catalog.ParseKind(kind); err == nil {
			kind = string(k)
		}
		p, err := s.d.Audit.List(ctx, audit.Filter{Actor: in.Actor, Action: in.Action, TargetKind: kind, TargetName: in.Name,
			Since: since, Until: until, AfterSeq: after, Limit: in.Limit})
		if err != nil {
			return nil, err
		}
		out := &struct{ Body page[audit.Entry] }{}
		out.Body.Items = p.Entries
		if out.Body.Items == nil {
			out.Body.Items = []audit.Entry{}
		}
		if p.Next > 0 {
			out.Body.Next = strconv.FormatInt(p.Next, 10)
		}
		return out, nil
	})

	register(s, auth.PermAuditRead, huma.Operation{
		OperationID: "verify-audit", Method: http.MethodGet, Path: BasePath + "/audit/verify", Tags: tags,
		Summary: "Verify the audit log's chain, and that it still holds an anchor",
	}, func(ctx context.Context, in *verifyInput) (*struct{ Body verifyBody }, error) {
		rep, from, err := s.verifyAudit(ctx, in.Anchor)
		if err != nil {
			return nil, err
		}
		b := verifyBody{OK: rep.OK, Entries: rep.Checked, HeadSeq: rep.HeadSeq, HeadHash: rep.HeadHash, Scheme: rep.Scheme, KeyID: rep.KeyID}
		if rep.Anchor != nil {
			b.Anchor, b.AnchorFrom = rep.Anchor.String(), from
		}
		if !rep.OK {
			b.FirstBadSeq = rep.BrokenSeq
			b.Reason = string(rep.Problem) + ": " + rep.Detail
		}
		return &struct{ Body verifyBody }{Body: b}, nil
	})
}

// verifyAudit verifies the chain against the anchor the request gives, else against the
// latest anchor of the hub's anchor file taken under the hub's key, else alone; from says
// where the anchor came from.
func (s *server) verifyAudit(ctx context.Context, param string) (rep audit.Report, from string, err error) {
	var a *audit.Anchor
	switch {
	case param != "":
		p, err := audit.ParseAnchor(param)
		if err != nil {
			return rep, "", apiError(http.StatusUnprocessableEntity, "anchor: "+err.Error())
		}
		a, from = &p, "request"
	case s.d.AuditAnchorFile != "":
		af, err := audit.ReadAnchorFile(s.d.AuditAnchorFile)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return rep, "", err
		}
		if key := s.d.Audit.Key(); !key.IsZero() {
			if l, ok := af.Latest(key.ID()); ok {
				a, from = &l, "file"
			}
		}
	}
	if a == nil {
		rep, err = s.d.Audit.Verify(ctx)
	} else {
		rep, err = s.d.Audit.VerifyAnchor(ctx, *a)
	}
	if errors.Is(err, audit.ErrChainKey) {
		return rep, "", apiError(http.StatusConflict, err.Error())
	}
	return rep, from, err
}
