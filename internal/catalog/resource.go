// Package catalog holds the hub's resources: Systems, Endpoints and Integrations written as
// YAML documents (apiVersion datahub/v1, kind, metadata, spec). It parses and validates them
// with errors that name the file, document, line and field; and it versions them in the
// metadata store, where every change is a new version that can be listed, compared and
// exported back to YAML that re-applies cleanly.
//
// Secrets never live in resources: an Endpoint names them by reference (secret:NAME,
// env:NAME, file:PATH) and the catalog refuses a URL or option that carries one inline.
package catalog

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/datahub-oss/datahub/internal/transform"
)

// APIVersion is the only resource API version this catalog reads and writes.
const APIVersion = "datahub/v1"

// Kind is a resource kind.
type Kind string

// The resource kinds, in dependency order: an Endpoint names a System, an Integration names
// Endpoints; a NotificationRule names integrations and systems only as patterns, so it comes
// last and may be applied before what it matches exists.
const (
	KindSystem           Kind = "System"
	KindEndpoint         Kind = "Endpoint"
	KindIntegration      Kind = "Integration"
	KindNotificationRule Kind = "NotificationRule"
	KindTopic            Kind = "Topic"
	KindSubscription     Kind = "Subscription"
)

// Kinds lists the kinds in dependency order (the order Export writes them in).
// A Subscription names Topics, so Topics come first; both come before NotificationRule, which
// stays last.
var Kinds = []Kind{KindSystem, KindEndpoint, KindIntegration, KindTopic, KindSubscription, KindNotificationRule}

// rank is a kind's position in dependency order.
func (k Kind) rank() int {
	for i, o := range Kinds {
		if o == k {
			return i
		}
	}
	return len(Kinds)
}

// ParseKind reads a kind name as a user types it: any case, singular or plural
// ("endpoints" is KindEndpoint).
func ParseKind(s string) (Kind, error) {
	l := strings.ToLower(strings.TrimSpace(s))
	for _, k := range Kinds {
		kl := strings.ToLower(string(k))
		if l == kl || l == kl+"s" {
			return k, nil
		}
	}
	return "", fmt.Errorf("unknown kind %q (want one of %s)", s, kindList())
}

func kindList() string {
	names := make([]string, len(Kinds))
	for i, k := range Kinds {
		names[i] = string(k)
	}
	return strings.Join(names, ", ")
}

// Environments are the deployment stages, in promotion order.
var Environments = []string{"DEV", "SIT", "UAT", "MPE", "PROD"}

// Classifications are the data classification levels, from least to most sensitive.
var Classifications = []string{"public", "internal", "confidential", "restricted"}

// DefaultClassification is what a System, Endpoint clearance or Integration gets when the
// document does not say: most business data is internal, and public would be the unsafe guess.
const DefaultClassification = "internal"

// Write modes of an Integration's destination (the engine's connector.WriteMode values).
var writeModes = []string{"append", "replace", "upsert"}

// Trigger types. Only the type is validated for now; the rest of a trigger is kept as written
// until the scheduler defines it.
var triggerTypes = []string{"manual", "schedule", "file", "webhook", "event"}

// Metadata names and describes a resource.
type Metadata struct {
	Name        string            `json:"name"`
	Labels      map[string]string `json:"labels,omitempty"`
	Owner       string            `json:"owner,omitempty"`
	Description string            `json:"description,omitempty"`
}

// Spec is the kind-specific part of a resource: *SystemSpec, *EndpointSpec,
// *IntegrationSpec, *NotificationRuleSpec, *TopicSpec or *SubscriptionSpec.
type Spec interface {
	specKind() Kind
}

// Resource is one document.
type Resource struct {
	APIVersion string   `json:"apiVersion"`
	Kind       Kind     `json:"kind"`
	Metadata   Metadata `json:"metadata"`
	Spec       Spec     `json:"spec"`
	// Origin says where the document was read from; it is not part of the resource.
	Origin Origin `json:"-"`
}

// Origin locates a parsed document for messages.
type Origin struct {
	// File is the path as given to ParseFile or ParseDir ("" for other input).
	File string
	// Doc is the document's 1-based index in its file or batch.
	Doc int
	// Line is the line the document starts on.
	Line int
	// lines maps lower-cased field paths to the line they were written on.
	lines map[string]int
}

// FieldLine returns the line a field path (spec.secrets.password, say) was written on, or
// that of its nearest parent written: for messages about a parsed resource.
func (o Origin) FieldLine(path string) int { return o.line(path) }

// line returns the line of a field path, or of its nearest parent that has one.
func (o Origin) line(path string) int {
	p := strings.ToLower(path)
	for p != "" {
		if l, ok := o.lines[p]; ok {
			return l
		}
		i := strings.LastIndexAny(p, ".[")
		if i < 0 {
			break
		}
		p = p[:i]
	}
	return o.Line
}

// Key identifies a resource.
type Key struct {
	Kind Kind
	Name string
}

func (k Key) String() string { return fmt.Sprintf("%s %q", k.Kind, k.Name) }

// Key returns the resource's kind and name.
func (r *Resource) Key() Key { return Key{r.Kind, r.Metadata.Name} }

// System is the resource's spec when it is a System (else nil).
func (r *Resource) System() *SystemSpec { s, _ := r.Spec.(*SystemSpec); return s }

// Endpoint is the resource's spec when it is an Endpoint (else nil).
func (r *Resource) Endpoint() *EndpointSpec { s, _ := r.Spec.(*EndpointSpec); return s }

// Integration is the resource's spec when it is an Integration (else nil).
func (r *Resource) Integration() *IntegrationSpec { s, _ := r.Spec.(*IntegrationSpec); return s }

// NotificationRule is the resource's spec when it is a NotificationRule (else nil).
func (r *Resource) NotificationRule() *NotificationRuleSpec {
	s, _ := r.Spec.(*NotificationRuleSpec)
	return s
}

// SystemSpec describes a business application or data store.
type SystemSpec struct {
	Description string `json:"description,omitempty"`
	// Owner is an email address or a team name.
	Owner    string    `json:"owner"`
	Contacts []Contact `json:"contacts,omitempty"`
	// Classification is the most sensitive data the system holds.
	Classification string `json:"classification"`
}

func (*SystemSpec) specKind() Kind { return KindSystem }

// Contact is a person to call about a System.
type Contact struct {
	Name  string `json:"name"`
	Email string `json:"email,omitempty"`
	Role  string `json:"role,omitempty"`
}

// EndpointSpec is one place data is read from or written to, in each environment.
type EndpointSpec struct {
	// System names the System the endpoint belongs to.
	System string `json:"system"`
	// Type is the registered connector's name (postgres, mysql, sqlite, file, ...).
	Type string `json:"type"`
	// Environments maps DEV, SIT, UAT, MPE and PROD to the endpoint's location there.
	Environments map[string]EnvironmentEndpoint `json:"environments"`
	// Options are connector options common to every environment; an environment's own
	// options win over them.
	Options map[string]string `json:"options,omitempty"`
	// Secrets maps "password" or a connector option to a reference: secret:NAME, env:NAME or
	// file:PATH. The value itself is resolved only when a run opens the endpoint.
	Secrets map[string]string `json:"secrets,omitempty"`
	// ClassificationClearance is the most sensitive classification the endpoint may receive.
	ClassificationClearance string `json:"classificationClearance"`
}

func (*EndpointSpec) specKind() Kind { return KindEndpoint }

// EnvironmentEndpoint is an Endpoint's location in one environment.
type EnvironmentEndpoint struct {
	// URL is the connector URL without any password.
	URL     string            `json:"url"`
	Options map[string]string `json:"options,omitempty"`
	// Secrets are this environment's own secret references (its PROD password, say); they
	// win over the endpoint's.
	Secrets map[string]string `json:"secrets,omitempty"`
}

// IntegrationSpec is a transfer from one Endpoint to another.
type IntegrationSpec struct {
	Description string             `json:"description,omitempty"`
	Source      SourceSpec         `json:"source"`
	Destination DestinationSpec    `json:"destination"`
	Mapping     *transform.Mapping `json:"mapping,omitempty"`
	Trigger     Trigger            `json:"trigger"`
	// Classification is the most sensitive data the integration moves.
	Classification string  `json:"classification"`
	Privacy        Privacy `json:"privacy"`
	// Concurrency is how many runs of this integration may run at once.
	Concurrency int `json:"concurrency"`
	// Retries is how many times a failed run is retried.
	Retries int `json:"retries,omitempty"`
	// MaxRejects fails a run once more records than this were rejected. Unset, a replace
	// allows none (it keeps the old data and fails rather than swap in a partial data set) and
	// append and upsert have no limit.
	MaxRejects *int `json:"maxRejects,omitempty"`
	// Environments are where the integration may run; empty means every environment both
	// endpoints are defined in.
	Environments []string `json:"environments,omitempty"`
}

func (*IntegrationSpec) specKind() Kind { return KindIntegration }

// SourceSpec is where an Integration reads: a table, a query or a path of an Endpoint. A
// file Endpoint whose URL names the file itself needs none of them.
type SourceSpec struct {
	Endpoint string `json:"endpoint"`
	Table    string `json:"table,omitempty"`
	Query    string `json:"query,omitempty"`
	// Path is relative to the endpoint's URL.
	Path string `json:"path,omitempty"`
}

// DestinationSpec is where an Integration writes and how.
type DestinationSpec struct {
	Endpoint string `json:"endpoint"`
	Table    string `json:"table,omitempty"`
	Path     string `json:"path,omitempty"`
	// Mode is append, replace or upsert.
	Mode string `json:"mode"`
	// Keys identify a row: required for upsert, the primary key of a created table otherwise.
	Keys []string `json:"keys,omitempty"`
	// Infer types the columns of a table the run creates from a CSV or JSON source from the
	// first InferRows records (default 10,000); false keeps them text. Unset means true.
	Infer     *bool `json:"infer,omitempty"`
	InferRows int   `json:"inferRows,omitempty"`
}

// Privacy says whether an Integration moves personal data, and in which fields.
type Privacy struct {
	PersonalData bool     `json:"personalData"`
	Fields       []string `json:"fields,omitempty"`
}

// Trigger says what starts a run. Only Type is defined yet; the other fields of the document
// are kept as written in Settings until the scheduler gives them meaning.
type Trigger struct {
	Type     string
	Settings map[string]any
}

// MarshalJSON writes the trigger as one flat object: type first, then the settings by name.
func (t Trigger) MarshalJSON() ([]byte, error) {
	typ, err := json.Marshal(t.Type)
	if err != nil {
		return nil, err
	}
	rest := make(map[string]any, len(t.Settings))
	for k, v := range t.Settings {
		if k != "type" {
			rest[k] = v
		}
	}
	out := append([]byte(`{"type":`), typ...)
	if len(rest) == 0 {
		return append(out, '}'), nil
	}
	more, err := json.Marshal(rest)
	if err != nil {
		return nil, err
	}
	out = append(out, ',')
	return append(out, more[1:]...), nil
}

// UnmarshalJSON reads the flat object MarshalJSON writes.
func (t *Trigger) UnmarshalJSON(b []byte) error {
	var m map[string]any
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(&m); err != nil {
		return err
	}
	t.Type, t.Settings = "", nil
	if v, ok := m["type"]; ok {
		s, ok := v.(string)
		if !ok {
			return fmt.Errorf("trigger type: want a string")
		}
		t.Type = s
		delete(m, "type")
	}
	if len(m) > 0 {
		t.Settings = m
	}
	return nil
}

// newSpec returns an empty spec of a kind, nil for an unknown kind.
func newSpec(k Kind) Spec {
	switch k {
	case KindSystem:
		return &SystemSpec{}
	case KindEndpoint:
		return &EndpointSpec{}
	case KindIntegration:
		return &IntegrationSpec{}
	case KindNotificationRule:
		return &NotificationRuleSpec{}
	case KindTopic:
		return &TopicSpec{}
	case KindSubscription:
		return &SubscriptionSpec{}
	}
	return nil
}

// UnmarshalJSON reads a document as stored, choosing the spec type by kind. It is lenient
// (unknown fields are ignored); input from people goes through Parse, which takes JSON too
// and is strict. Numbers in free-form fields stay json.Number so large integers keep their
// digits.
func (r *Resource) UnmarshalJSON(b []byte) error {
	var raw struct {
		APIVersion string          `json:"apiVersion"`
		Kind       Kind            `json:"kind"`
		Metadata   Metadata        `json:"metadata"`
		Spec       json.RawMessage `json:"spec"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	spec := newSpec(raw.Kind)
	if spec == nil {
		return fmt.Errorf("unknown kind %q", raw.Kind)
	}
	if len(raw.Spec) > 0 && string(raw.Spec) != "null" {
		d := json.NewDecoder(bytes.NewReader(raw.Spec))
		d.UseNumber()
		if err := d.Decode(spec); err != nil {
			return fmt.Errorf("%s %q spec: %w", raw.Kind, raw.Metadata.Name, err)
		}
	}
	*r = Resource{APIVersion: raw.APIVersion, Kind: raw.Kind, Metadata: raw.Metadata, Spec: spec}
	return nil
}

// clone returns a deep copy of r (through its JSON) with the same origin. A resource whose
// spec does not match its kind is returned as is, for checkResource to report.
func (r *Resource) clone() (Resource, error) {
	if r.Spec == nil || r.Spec.specKind() != r.Kind {
		return *r, nil
	}
	b, err := r.Canonical()
	if err != nil {
		return Resource{}, err
	}
	var c Resource
	if err := json.Unmarshal(b, &c); err != nil {
		return Resource{}, fmt.Errorf("copy %s: %w", r.Key(), err)
	}
	c.Origin = r.Origin
	return c, nil
}

// Canonical is the resource's canonical JSON: fields in declaration order, map keys sorted,
// no insignificant space. Equal documents have equal canonical JSON, which is what the digest
// is taken of.
func (r *Resource) Canonical() ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(r); err != nil {
		return nil, fmt.Errorf("encode %s: %w", r.Key(), err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// Digest is the hex SHA-256 of the canonical JSON.
func (r *Resource) Digest() (string, error) {
	b, err := r.Canonical()
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}
