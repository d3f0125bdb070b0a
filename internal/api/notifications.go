package api

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/datahub-oss/datahub/internal/auth"
	"github.com/datahub-oss/datahub/internal/notify"
)

type notificationListInput struct {
	Limit       int    `query:"limit" minimum:"1" maximum:"1000" default:"50" doc:"Page size"`
	Cursor      string `query:"cursor" doc:"The next cursor of the previous page"`
	Status      string `query:"status" enum:"sent,failed,suppressed,digested," doc:"sent, failed, suppressed (held by the throttle) or digested"`
	Rule        string `query:"rule" doc:"NotificationRule name"`
	Integration string `query:"integration"`
	EventType   string `query:"event_type" doc:"run.failed, ... or digest's first type"`
	Since       string `query:"since" doc:"RFC 3339 time, date (2006-01-02) or duration back from now (24h)"`
	Until       string `query:"until" doc:"RFC 3339 time, date or duration back from now; exclusive"`
}

// notificationRoutes serve the notification log. Reading it needs audit.read: like the audit
// log it says who was told what and when, and every role that reads one reads the other.
func (s *server) notificationRoutes() {
	register(s, auth.PermAuditRead, huma.Operation{
		OperationID: "list-notifications", Method: http.MethodGet, Path: BasePath + "/notifications", Tags: []string{"notifications"},
		Summary: "List notifications sent, failed, suppressed by a throttle or sent as digests, newest first",
	}, func(ctx context.Context, in *notificationListInput) (*struct{ Body page[notify.Record] }, error) {
		if s.d.Notify == nil {
			return nil, apiError(http.StatusServiceUnavailable, "notifications are not configured on this server")
		}
		now := time.Now()
		since, err := parseWhen("since", in.Since, now)
		if err != nil {
			return nil, err
		}
		until, err := parseWhen("until", in.Until, now)
		if err != nil {
			return nil, err
		}
		recs, next, err := s.d.Notify.List(ctx, notify.Filter{Rule: in.Rule, Integration: in.Integration, Status: notify.Status(in.Status),
			EventType: in.EventType, Since: since, Until: until, Limit: in.Limit, Cursor: in.Cursor})
		if err != nil {
			if errors.Is(err, notify.ErrBadCursor) {
				return nil, apiError(http.StatusUnprocessableEntity, "invalid cursor")
			}
			return nil, err
		}
		out := &struct{ Body page[notify.Record] }{}
		out.Body.Items, out.Body.Next = recs, next
		if out.Body.Items == nil {
			out.Body.Items = []notify.Record{}
		}
		return out, nil
	})
}
