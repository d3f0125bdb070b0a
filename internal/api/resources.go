package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"reflect"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/datahub-oss/datahub/internal/audit"
	"github.com/datahub-oss/datahub/internal/auth"
	"github.com/datahub-oss/datahub/internal/bus"
	"github.com/datahub-oss/datahub/internal/catalog"
	"github.com/datahub-oss/datahub/internal/event"
	"github.com/datahub-oss/datahub/internal/secret"
	"github.com/datahub-oss/datahub/internal/store"
)

// CatalogAuditHook returns the catalog.Options.OnChange hook that records every created,
// updated or deleted resource in the audit log inside the catalog's transaction, so a change
// and its entry commit together. The actor is the Change's; the remote address comes from the
// context (WithRemote, set by the API for every request). A nil log gives a hook that
// records nothing.
func CatalogAuditHook(a *audit.Log) func(ctx context.Context, tx *store.Tx, c catalog.Change) error {
	return func(ctx context.Context, tx *store.Tx, c catalog.Change) error {
		if a == nil {
			return nil
		}
		action := "resource.apply"
		if c.Action == catalog.Deleted {
			action = "resource.delete"
		}
		_, err := a.AppendTx(ctx, tx, audit.Entry{
			Actor: c.Actor, Action: action, TargetKind: string(c.Kind), TargetName: c.Name, Remote: RemoteFrom(ctx),
			Details:      detailsJSON(map[string]any{"change": c.Action, "version": c.Version}),
			BeforeDigest: auditDigest(c.Before), AfterDigest: auditDigest(c.After),
		})
		return err
	}
}

// auditDigest writes a catalog digest (hex SHA-256 of the canonical document) in the audit
// log's "sha256:<hex>" form.
func auditDigest(hex string) string {
	if hex == "" {
		return ""
	}
	return "sha256:" + hex
}

// resourceStatus is the bookkeeping shown with a resource document.
type resourceStatus struct {
	Version   int       `json:"version"`
	Digest    string    `json:"digest"`
	UpdatedAt time.Time `json:"updated_at"`
	UpdatedBy string    `json:"updated_by"`
	// Change is set on a past version: what that version did.
	Change string `json:"change,omitempty"`
}

// resourceDoc is a resource document as the API shows it.
type resourceDoc struct {
	APIVersion string           `json:"apiVersion"`
	Kind       string           `json:"kind"`
	Metadata   catalog.Metadata `json:"metadata"`
	Spec       any              `json:"spec"`
	Status     resourceStatus   `json:"status"`
}

func docOf(r catalog.Resource, st resourceStatus) resourceDoc {
	return resourceDoc{APIVersion: r.APIVersion, Kind: string(r.Kind), Metadata: r.Metadata, Spec: r.Spec, Status: st}
}

func entryDoc(e catalog.Entry) resourceDoc {
	return docOf(e.Resource, resourceStatus{Version: e.Version, Digest: e.Digest, UpdatedAt: e.UpdatedAt, UpdatedBy: e.UpdatedBy})
}

// changeBody is one change of an apply or delete.
type changeBody struct {
	Kind         string `json:"kind"`
	Name         string `json:"name"`
	Action       string `json:"action" enum:"created,updated,unchanged,deleted"`
	Version      int    `json:"version"`
	BeforeDigest string `json:"before_digest"`
	AfterDigest  string `json:"after_digest"`
}

func changeOf(c catalog.Change) changeBody {
	return changeBody{Kind: string(c.Kind), Name: c.Name, Action: string(c.Action), Version: c.Version, BeforeDigest: c.Before, AfterDigest: c.After}
}

func parseKind(s string) (catalog.Kind, error) {
	k, err := catalog.ParseKind(s)
	if err != nil {
		return "", apiError(http.StatusNotFound, err.Error())
	}
	return k, nil
}

type applyInput struct {
	DryRun      bool   `query:"dry_run" doc:"Validate and report what would change, writing nothing"`
	ContentType string `header:"Content-Type"`
	RawBody     []byte `contentType:"application/yaml"`
}

// applyJSON is the JSON form of an apply request.
type applyJSON struct {
	Documents []map[string]any `json:"documents" doc:"Resource documents (apiVersion, kind, metadata, spec)"`
}

type applyOutput struct {
	Body struct {
		DryRun   bool          `json:"dry_run"`
		Changes  []changeBody  `json:"changes"`
		Warnings []warningBody `json:"warnings,omitempty" doc:"What was applied but will not work as it stands (a reference to a secret that does not exist)"`
	}
}

// warningBody is one warning of an apply.
type warningBody struct {
	Kind    string `json:"kind"`
	Name    string `json:"name"`
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Inputs spell out their parameters: huma does not see the fields of embedded unexported
// structs.

type resourceInput struct {
	Kind string `path:"kind" doc:"System, Endpoint or Integration (any case, plural allowed)"`
	Name string `path:"name"`
}

type resourceOutput struct {
	Body resourceDoc
}

type page[T any] struct {
	Items []T    `json:"items"`
	Next  string `json:"next" doc:"Cursor of the following page, empty on the last"`
}

type revisionBody struct {
	Version   int       `json:"version"`
	Change    string    `json:"change" enum:"created,updated,deleted"`
	Digest    string    `json:"digest"`
	CreatedAt time.Time `json:"created_at"`
	CreatedBy string    `json:"created_by"`
}

func (s *server) resourceRoutes() {
	tags := []string{"resources"}
	register(s, auth.PermResourcesWrite, huma.Operation{
		OperationID: "apply", Method: http.MethodPost, Path: BasePath + "/apply", Tags: tags,
		Summary:      "Create or update resources",
		Description:  "The body is multi-document YAML (Content-Type application/yaml) or JSON {\"documents\": [...]}. Every document is validated first; if any is invalid nothing is written and the answer is 422 with details.errors.",
		MaxBodyBytes: catalog.MaxFileSize + 1,
		Errors:       []int{http.StatusBadRequest, http.StatusUnsupportedMediaType, http.StatusUnprocessableEntity},
	}, s.apply)
	// Document the JSON form next to the YAML one. It is added after registration so that
	// huma does not try to decode YAML bodies as JSON: the handler parses both itself.
	if op := s.api.OpenAPI().Paths[BasePath+"/apply"].Post; op != nil {
		op.RequestBody.Content["application/json"] = &huma.MediaType{
			Schema: huma.SchemaFromType(s.api.OpenAPI().Components.Schemas, reflect.TypeFor[applyJSON]()),
		}
	}

	register(s, auth.PermResourcesRead, huma.Operation{
		OperationID: "list-resources", Method: http.MethodGet, Path: BasePath + "/resources/{kind}", Tags: tags,
		Summary: "List resources of a kind", Errors: []int{http.StatusNotFound},
	}, func(ctx context.Context, in *struct {
		Kind   string `path:"kind" doc:"System, Endpoint or Integration (any case, plural allowed)"`
		Limit  int    `query:"limit" minimum:"1" maximum:"1000" default:"50" doc:"Page size"`
		Cursor string `query:"cursor" doc:"The next cursor of the previous page"`
		Label  string `query:"label" doc:"Label selector: comma-separated k=v, k!=v, k or !k"`
	}) (*struct{ Body page[resourceDoc] }, error) {
		kind, err := parseKind(in.Kind)
		if err != nil {
			return nil, err
		}
		entries, next, err := s.d.Catalog.List(ctx, kind, catalog.ListOptions{Selector: in.Label, Limit: in.Limit, Cursor: in.Cursor})
		if err != nil {
			// The catalog reports a bad selector or cursor as a plain error; tell them apart
			// from a store failure by their messages (see the report: a sentinel would be better).
			if m := err.Error(); strings.HasPrefix(m, "label selector ") || strings.HasPrefix(m, "list resources: invalid cursor ") {
				return nil, apiError(http.StatusUnprocessableEntity, m)
			}
			return nil, err
		}
		out := &struct{ Body page[resourceDoc] }{}
		out.Body.Items = make([]resourceDoc, 0, len(entries))
		for _, e := range entries {
			out.Body.Items = append(out.Body.Items, entryDoc(e))
		}
		out.Body.Next = next
		return out, nil
	})

	register(s, auth.PermResourcesRead, huma.Operation{
		OperationID: "get-resource", Method: http.MethodGet, Path: BasePath + "/resources/{kind}/{name}", Tags: tags,
		Summary: "Get a resource", Errors: []int{http.StatusNotFound},
	}, func(ctx context.Context, in *resourceInput) (*resourceOutput, error) {
		kind, err := parseKind(in.Kind)
		if err != nil {
			return nil, err
		}
		e, err := s.d.Catalog.Get(ctx, kind, in.Name)
		if err != nil {
			return nil, err
		}
		return &resourceOutput{Body: entryDoc(e)}, nil
	})

	register(s, auth.PermResourcesWrite, huma.Operation{
		OperationID: "delete-resource", Method: http.MethodDelete, Path: BasePath + "/resources/{kind}/{name}", Tags: tags,
		Summary:     "Delete a resource (its history stays)",
		Description: "Refused with 409 while other resources refer to it.",
		Errors:      []int{http.StatusNotFound, http.StatusConflict},
	}, func(ctx context.Context, in *resourceInput) (*struct{ Body changeBody }, error) {
		kind, err := parseKind(in.Kind)
		if err != nil {
			return nil, err
		}
		var check func(context.Context, *catalog.Resource) error
		if s.d.Policy != nil {
			check = s.d.Policy.DeleteCheck(principal(ctx))
		}
		c, err := s.d.Catalog.DeleteChecked(ctx, kind, in.Name, principal(ctx).Name, check)
		if err != nil {
			return nil, err
		}
		s.resourceChanged(ctx, c)
		return &struct{ Body changeBody }{Body: changeOf(c)}, nil
	})

	register(s, auth.PermResourcesRead, huma.Operation{
		OperationID: "resource-history", Method: http.MethodGet, Path: BasePath + "/resources/{kind}/{name}/history", Tags: tags,
		Summary: "Every version of a resource, oldest first", Errors: []int{http.StatusNotFound},
	}, func(ctx context.Context, in *resourceInput) (*struct{ Body page[revisionBody] }, error) {
		kind, err := parseKind(in.Kind)
		if err != nil {
			return nil, err
		}
		revs, err := s.d.Catalog.History(ctx, kind, in.Name)
		if err != nil {
			return nil, err
		}
		out := &struct{ Body page[revisionBody] }{}
		out.Body.Items = make([]revisionBody, 0, len(revs))
		for _, rv := range revs {
			out.Body.Items = append(out.Body.Items, revisionBody{Version: rv.Version, Change: string(rv.Change), Digest: rv.Digest,
				CreatedAt: rv.CreatedAt, CreatedBy: rv.CreatedBy})
		}
		return out, nil
	})

	register(s, auth.PermResourcesRead, huma.Operation{
		OperationID: "resource-version", Method: http.MethodGet, Path: BasePath + "/resources/{kind}/{name}/versions/{version}", Tags: tags,
		Summary: "A resource as it was at one version", Errors: []int{http.StatusNotFound},
	}, func(ctx context.Context, in *struct {
		Kind    string `path:"kind" doc:"System, Endpoint or Integration (any case, plural allowed)"`
		Name    string `path:"name"`
		Version int    `path:"version" minimum:"1"`
	}) (*resourceOutput, error) {
		kind, err := parseKind(in.Kind)
		if err != nil {
			return nil, err
		}
		rv, err := s.d.Catalog.Version(ctx, kind, in.Name, in.Version)
		if err != nil {
			return nil, err
		}
		return &resourceOutput{Body: docOf(rv.Resource, resourceStatus{Version: rv.Version, Digest: rv.Digest,
			UpdatedAt: rv.CreatedAt, UpdatedBy: rv.CreatedBy, Change: string(rv.Change)})}, nil
	})

	register(s, auth.PermResourcesRead, huma.Operation{
		OperationID: "resource-diff", Method: http.MethodGet, Path: BasePath + "/resources/{kind}/{name}/diff", Tags: tags,
		Summary:     "Unified diff between two versions",
		Description: "to defaults to the latest version, from to the one before to.",
		Errors:      []int{http.StatusNotFound},
	}, s.diff)

	register(s, auth.PermResourcesRead, huma.Operation{
		OperationID: "export", Method: http.MethodGet, Path: BasePath + "/export", Tags: tags,
		Summary: "Every live resource as multi-document YAML that re-applies cleanly",
		Responses: map[string]*huma.Response{"200": {Description: "YAML documents", Content: map[string]*huma.MediaType{
			"text/yaml": {Schema: &huma.Schema{Type: "string"}},
		}}},
	}, func(ctx context.Context, _ *struct{}) (*huma.StreamResponse, error) {
		var buf bytes.Buffer
		if err := s.d.Catalog.Export(ctx, &buf); err != nil {
			return nil, err
		}
		return &huma.StreamResponse{Body: func(hctx huma.Context) {
			hctx.SetHeader("Content-Type", "text/yaml; charset=utf-8")
			hctx.SetStatus(http.StatusOK)
			_, _ = hctx.BodyWriter().Write(buf.Bytes())
		}}, nil
	})
}

func (s *server) apply(ctx context.Context, in *applyInput) (*applyOutput, error) {
	data, isJSON, err := applyDocuments(in.ContentType, in.RawBody)
	if err != nil {
		return nil, err
	}
	docs, err := catalog.Parse(data, "request")
	var ces catalog.Errors
	if errors.As(err, &ces) {
		return nil, validationError("the resources are not valid", ces, isJSON)
	}
	if err != nil {
		return nil, err
	}
	if len(docs) == 0 {
		return nil, apiError(http.StatusUnprocessableEntity, "the request holds no resource documents")
	}
	opts := catalog.ApplyOptions{DryRun: in.DryRun, Actor: principal(ctx).Name}
	if s.d.Policy != nil {
		opts.Check = s.d.Policy.ApplyCheck(principal(ctx))
	}
	changes, err := s.d.Catalog.Apply(ctx, docs, opts)
	if errors.As(err, &ces) {
		return nil, validationError("the resources are not valid", ces, isJSON)
	}
	if err != nil {
		return nil, err
	}
	out := &applyOutput{}
	out.Body.DryRun = in.DryRun
	out.Body.Changes = make([]changeBody, 0, len(changes))
	for _, c := range changes {
		out.Body.Changes = append(out.Body.Changes, changeOf(c))
		if !in.DryRun {
			s.resourceChanged(ctx, c)
		}
	}
	out.Body.Warnings = s.missingSecrets(ctx, docs)
	return out, nil
}

// missingSecrets warns of secret:NAME references to secrets the hub does not hold: the
// resource applies (the secret may be put next), but its first run or delivery would fail.
func (s *server) missingSecrets(ctx context.Context, docs []catalog.Resource) []warningBody {
	if s.d.Secrets == nil {
		return nil
	}
	var have map[string]bool
	var out []warningBody
	for i := range docs {
		for _, f := range catalog.SecretFields(&docs[i]) {
			name, ok := strings.CutPrefix(f.Value, secret.PrefixSecret)
			if !ok {
				continue
			}
			if have == nil {
				infos, err := s.d.Secrets.List(ctx)
				if err != nil {
					loggerFrom(ctx).Warn("list secrets for the apply warnings", "err", err)
					return nil
				}
				have = make(map[string]bool, len(infos))
				for _, in := range infos {
					have[in.Name] = true
				}
			}
			if !have[name] {
				out = append(out, warningBody{Kind: string(docs[i].Kind), Name: docs[i].Metadata.Name, Field: f.Path,
					Message: fmt.Sprintf("secret %q does not exist yet: put it (datahub secret put %s --from-stdin) before the first run or delivery", name, name)})
			}
		}
	}
	return out
}

// resourceChanged publishes a resource.changed event for a committed change (nothing for an
// unchanged document). Published after the commit, so no event names a change that was
// rolled back; best effort, like every hub event.
func (s *server) resourceChanged(ctx context.Context, c catalog.Change) {
	if c.Action == catalog.Unchanged || s.d.Bus == nil {
		return
	}
	e := event.New(event.ResourceChanged)
	e.Resource = string(c.Kind) + "/" + c.Name
	e.Actor = c.Actor
	if c.Resource != nil {
		e.Labels = c.Resource.Metadata.Labels
		if c.Kind == catalog.KindIntegration {
			e.Integration = c.Name
		}
	}
	e.Object = string(c.Action)
	_ = bus.Events{Bus: s.d.Bus, Logger: loggerFrom(ctx)}.Publish(ctx, e)
}

// applyDocuments returns the body as text catalog.Parse reads: YAML as is, or the JSON
// form's documents one per YAML document (JSON is YAML), so document numbers still count.
func applyDocuments(contentType string, body []byte) ([]byte, bool, error) {
	mt := "application/yaml"
	if contentType != "" {
		var err error
		if mt, _, err = mime.ParseMediaType(contentType); err != nil {
			return nil, false, apiError(http.StatusUnsupportedMediaType, "unreadable Content-Type")
		}
	}
	switch {
	case mt == "application/yaml" || mt == "application/x-yaml" || mt == "text/yaml" || mt == "text/x-yaml":
		return body, false, nil
	case mt == "application/json" || strings.HasSuffix(mt, "+json"):
	default:
		return nil, false, apiError(http.StatusUnsupportedMediaType, fmt.Sprintf("Content-Type %s: send application/yaml or application/json", mt))
	}
	var req struct {
		Documents []json.RawMessage `json:"documents"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return nil, true, apiError(http.StatusBadRequest, `the body is not JSON of the form {"documents": [...]}`)
	}
	var buf bytes.Buffer
	for _, d := range req.Documents {
		buf.WriteString("---\n")
		if err := json.Compact(&buf, d); err != nil {
			return nil, true, apiError(http.StatusBadRequest, "a document is not valid JSON")
		}
		buf.WriteByte('\n')
	}
	return buf.Bytes(), true, nil
}

type diffInput struct {
	Kind string `path:"kind" doc:"System, Endpoint or Integration (any case, plural allowed)"`
	Name string `path:"name"`
	From int    `query:"from" minimum:"0" doc:"Older version (default: the one before to)"`
	To   int    `query:"to" minimum:"0" doc:"Newer version (default: the latest)"`
}

type diffOutput struct {
	Body struct {
		From int    `json:"from"`
		To   int    `json:"to"`
		Diff string `json:"diff" doc:"Unified diff of the YAML renderings, empty when equal"`
	}
}

func (s *server) diff(ctx context.Context, in *diffInput) (*diffOutput, error) {
	kind, err := parseKind(in.Kind)
	if err != nil {
		return nil, err
	}
	revs, err := s.d.Catalog.History(ctx, kind, in.Name)
	if err != nil {
		return nil, err
	}
	to := in.To
	if to == 0 {
		to = revs[len(revs)-1].Version
	}
	from := in.From
	if from == 0 {
		from = to - 1
	}
	if from < 1 {
		return nil, apiError(http.StatusUnprocessableEntity, fmt.Sprintf("version %d is the first; give from and to", to))
	}
	find := func(v int) (*catalog.Revision, error) {
		for i := range revs {
			if revs[i].Version == v {
				return &revs[i], nil
			}
		}
		return nil, apiError(http.StatusNotFound, fmt.Sprintf("%s %q has no version %d", kind, in.Name, v))
	}
	a, err := find(from)
	if err != nil {
		return nil, err
	}
	b, err := find(to)
	if err != nil {
		return nil, err
	}
	out := &diffOutput{}
	out.Body.From, out.Body.To = from, to
	out.Body.Diff = catalog.Diff(a.Resource, b.Resource)
	return out, nil
}
