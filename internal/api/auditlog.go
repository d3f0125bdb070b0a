package api

import (
	"context"
	"fmt"
	"net/http"
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
		Summary: "Verify the audit log's hash chain",
	}, func(ctx context.Context, _ *struct{}) (*struct{ Body verifyBody }, error) {
		rep, err := s.d.Audit.Verify(ctx)
		if err != nil {
			return nil, err
		}
		b := verifyBody{OK: rep.OK, Entries: rep.Checked}
		if !rep.OK {
			b.FirstBadSeq = rep.BrokenSeq
			b.Reason = string(rep.Problem) + ": " + rep.Detail
		}
		return &struct{ Body verifyBody }{Body: b}, nil
	})
}
