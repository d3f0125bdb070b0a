package notify

import (
	"embed"
	"fmt"
	"io/fs"
	"strings"
	"text/template"
	"time"

	"github.com/datahub-oss/datahub/internal/event"
)

//go:embed templates/*.tmpl
var templateFS embed.FS

// maxDigestList bounds the events a digest lists one by one.
const maxDigestList = 100

// templates holds the parsed default templates: one set per event type and the digest's.
var (
	baseTemplates   *template.Template
	typeTemplates   = map[event.Type]*template.Template{}
	digestTemplates *template.Template
)

func init() {
	base := template.Must(template.New("default.tmpl").ParseFS(templateFS, "templates/default.tmpl"))
	baseTemplates = base
	for _, t := range event.Types {
		name := "templates/" + string(t) + ".tmpl"
		if _, err := fs.Stat(templateFS, name); err != nil {
			typeTemplates[t] = base
			continue
		}
		typeTemplates[t] = template.Must(template.Must(base.Clone()).ParseFS(templateFS, name))
	}
	digestTemplates = template.Must(template.New("digest.tmpl").ParseFS(templateFS, "templates/digest.tmpl"))
}

// eventData is what the event templates see.
type eventData struct {
	Event  event.Event
	Rule   string
	Status string
	Stats  string
	Link   string
}

// digestData is what the digest templates see.
type digestData struct {
	Rule        string
	Integration string
	Window      string
	Count       int
	Events      []eventData
	More        int
}

// rendered is a message ready for a channel.
type rendered struct {
	Subject string
	// Body is the email body; Chat is the text for Teams and Slack.
	Body string
	Chat string
}

func newEventData(e event.Event, rule, baseURL string) eventData {
	d := eventData{Event: e, Rule: rule, Status: status(e.Type), Stats: statsLine(e.Stats)}
	if e.Severity == "" {
		d.Event.Severity = event.SeverityOf(e.Type)
	}
	if e.RunID != "" {
		base := strings.TrimSuffix(baseURL, "/")
		if base == "" {
			// A placeholder until the hub knows its public address.
			base = "{hub-url}"
		}
		d.Link = base + "/runs/" + e.RunID
	}
	return d
}

// status is the event type's last word: run.failed is "failed".
func status(t event.Type) string {
	s := string(t)
	if i := strings.LastIndexByte(s, '.'); i >= 0 {
		return s[i+1:]
	}
	return s
}

func statsLine(s *event.Stats) string {
	if s == nil {
		return ""
	}
	return fmt.Sprintf("%d rows read, %d written, %d rejected; %d bytes read, %d written; %s",
		s.RowsRead, s.RowsWritten, s.RowsRejected, s.BytesRead, s.BytesWritten,
		time.Duration(s.DurationMS)*time.Millisecond)
}

// renderEvent renders an event for a channel; override replaces the body or chat template.
func renderEvent(e event.Event, rule, baseURL, override string) (rendered, error) {
	t := typeTemplates[e.Type]
	if t == nil {
		t = baseTemplates
	}
	return render(t, newEventData(e, rule, baseURL), override)
}

// renderDigest renders the digest of held events.
func renderDigest(rule, integration string, window time.Duration, events []event.Event, baseURL, override string) (rendered, error) {
	d := digestData{Rule: rule, Integration: integration, Window: window.String(), Count: len(events)}
	for i, e := range events {
		if i == maxDigestList {
			d.More = len(events) - i
			break
		}
		d.Events = append(d.Events, newEventData(e, rule, baseURL))
	}
	return render(digestTemplates, d, override)
}

func render(t *template.Template, data any, override string) (rendered, error) {
	var out rendered
	var err error
	if out.Subject, err = execute(t, "subject", data); err != nil {
		return out, err
	}
	// A subject is one header line: whatever the event says, it cannot add headers.
	out.Subject = strings.Join(strings.Fields(out.Subject), " ")
	if override != "" {
		c, err := t.Clone()
		if err != nil {
			return out, fmt.Errorf("render: %w", err)
		}
		if _, err := c.New("override").Parse(override); err != nil {
			return out, fmt.Errorf("parse the channel's template: %w", err)
		}
		body, err := execute(c, "override", data)
		if err != nil {
			return out, err
		}
		out.Body, out.Chat = body, body
		return out, nil
	}
	if out.Body, err = execute(t, "body", data); err != nil {
		return out, err
	}
	if out.Chat, err = execute(t, "chat", data); err != nil {
		return out, err
	}
	return out, nil
}

func execute(t *template.Template, name string, data any) (string, error) {
	var b strings.Builder
	if err := t.ExecuteTemplate(&b, name, data); err != nil {
		return "", fmt.Errorf("render template %s: %w", name, err)
	}
	return b.String(), nil
}
