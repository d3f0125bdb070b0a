package catalog

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/datahub-oss/datahub/internal/store"
)

func init() {
	store.Register(store.Migration{Component: "catalog", Version: 1, SQL: schemaV1})
}

// catalog_resources holds one row per resource ever applied: its live state, or the
// tombstone of a deleted one (so version numbers keep counting if it comes back).
// catalog_versions holds every version's whole document; a deletion is a version holding
// the last document. Documents and specs are canonical JSON (TEXT on both dialects).
const schemaV1 = `CREATE TABLE catalog_resources (
	kind TEXT NOT NULL,
	name TEXT NOT NULL,
	version INTEGER NOT NULL,
	spec TEXT NOT NULL,
	digest TEXT NOT NULL,
	labels TEXT NOT NULL,
	owner TEXT NOT NULL,
	created_at TEXT NOT NULL,
	updated_at TEXT NOT NULL,
	updated_by TEXT NOT NULL,
	deleted INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (kind, name)
);
CREATE TABLE catalog_versions (
	kind TEXT NOT NULL,
	name TEXT NOT NULL,
	version INTEGER NOT NULL,
	document TEXT NOT NULL,
	digest TEXT NOT NULL,
	created_at TEXT NOT NULL,
	created_by TEXT NOT NULL,
	change TEXT NOT NULL,
	PRIMARY KEY (kind, name, version)
)`

// ErrInUse is returned (wrapped) when deleting a resource others refer to.
var ErrInUse = errors.New("in use")

// Action is what applying or deleting did to one resource.
type Action string

// The actions.
const (
	Created   Action = "created"
	Updated   Action = "updated"
	Unchanged Action = "unchanged"
	Deleted   Action = "deleted"
)

// Change is the result of applying or deleting one document.
type Change struct {
	Kind   Kind   `json:"kind"`
	Name   string `json:"name"`
	Action Action `json:"action"`
	// Version is the version the change created (the current one when unchanged).
	Version int `json:"version"`
	// Before and After are the digests of the live document before and after ("" for none).
	Before string `json:"before,omitempty"`
	After  string `json:"after,omitempty"`
	Actor  string `json:"actor,omitempty"`
	// Resource is the document applied, or the last one for a deletion.
	Resource *Resource `json:"-"`
}

// Options configure a Service.
type Options struct {
	// OnChange is called inside the transaction for every created, updated or deleted
	// resource (not for unchanged ones, nor on a dry run); an error rolls the whole change
	// back. The API layer appends the audit entry here, so the two cannot disagree.
	OnChange func(ctx context.Context, tx *store.Tx, c Change) error
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// CheckTrigger validates an Integration's trigger settings at apply time, dry runs
	// included (trigger.Check; nil: only the type is checked). Its error is reported at
	// spec.trigger.
	CheckTrigger func(Trigger) error
	// CheckOutbound gives early feedback on the http(s) URLs Subscriptions and
	// NotificationRules post to, at apply time, dry runs included (outbound.Guard.CheckURL;
	// nil: none). References are not resolved for it. Its error is reported at the URL's
	// field. The real check is made when a delivery dials.
	CheckOutbound func(rawURL string) error
}

// Service keeps the catalog in the metadata store.
type Service struct {
	db   *store.DB
	opts Options
}

// New returns the catalog kept in db (migrated by the caller).
func New(db *store.DB, opts Options) *Service {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Service{db: db, opts: opts}
}

// ApplyOptions tune Apply.
type ApplyOptions struct {
	// DryRun validates and reports what would change, writing nothing.
	DryRun bool
	// Actor is who applies (a user or token name), recorded with every version.
	Actor string
	// Check, when set, is called for every document of the batch that is not equal to its
	// live version, after the references are checked and inside the transaction (dry runs
	// included): live is the stored live version (nil for a new resource) and lookup sees the
	// batch over the live catalog. Its problems are reported like validation problems, so
	// nothing is written. The API's policy checks (file roots, secret references, run
	// rights) use it.
	Check CheckFunc
}

// CheckFunc checks one document of an apply; see ApplyOptions.Check.
type CheckFunc func(ctx context.Context, r, live *Resource, lookup func(Key) (*Resource, error)) ([]Problem, error)

// Problem is what a check found wrong with a document: at which field, and what.
type Problem struct {
	Field   string
	Message string
}

// NewError is a validation problem of r at field (for checks outside the catalog).
func NewError(r *Resource, field, problem string) *Error { return newError(r, field, problem) }

// errDryRun rolls a dry run's transaction back after it has computed the changes.
var errDryRun = errors.New("dry run")

// Apply validates every document, then creates or updates them all in one transaction: if any
// document is invalid (on its own or in what it refers to), nothing is written and the error
// is Errors. Documents equal to the live version are left alone ("unchanged"); every other
// one becomes a new version. References may point to documents in the same batch.
func (s *Service) Apply(ctx context.Context, docs []Resource, opts ApplyOptions) ([]Change, error) {
	if opts.Actor == "" {
		return nil, errors.New("apply resources: no actor given")
	}
	batch := make([]Resource, len(docs))
	var errs Errors
	for i := range docs {
		r := &batch[i]
		*r = docs[i]
		if r.Origin.File == "" && r.Origin.Doc == 0 {
			r.Origin.Doc = i + 1
		}
		// Checking normalizes in place: work on a copy, not on the caller's resources.
		c, err := r.clone()
		if err != nil {
			errs = append(errs, newError(r, "spec", err.Error()))
			continue
		}
		*r = c
		// Re-checking parsed documents costs little and covers resources built in code.
		errs = append(errs, checkResource(r)...)
		errs = append(errs, s.checkTrigger(r)...)
		errs = append(errs, s.checkOutbound(r)...)
	}
	errs = append(errs, checkDuplicates(batch)...)
	if len(errs) > 0 {
		return nil, errs.sorted()
	}
	var changes []Change
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		changes = changes[:0]
		if err := lockCatalog(ctx, tx); err != nil {
			return err
		}
		v := newView(ctx, tx, batch)
		if err := s.checkBatch(v, batch); err != nil {
			return err
		}
		if err := runCheck(ctx, v, batch, opts.Check); err != nil {
			return err
		}
		now := store.Time(s.opts.Now())
		for i := range batch {
			c, err := s.write(ctx, tx, &batch[i], opts.Actor, now, opts.DryRun)
			if err != nil {
				return err
			}
			changes = append(changes, c)
		}
		if opts.DryRun {
			return errDryRun
		}
		return nil
	})
	if err != nil && !errors.Is(err, errDryRun) {
		var es Errors
		if errors.As(err, &es) {
			return nil, es
		}
		return nil, fmt.Errorf("apply resources: %w", err)
	}
	return changes, nil
}

// checkBatch checks every reference of the batch against the batch and the store, and that
// no changed Endpoint breaks a stored Integration or Subscription that is not in the batch.
func (s *Service) checkBatch(v *view, batch []Resource) error {
	var errs Errors
	changedEndpoints := map[string]*Resource{}
	for i := range batch {
		r := &batch[i]
		es, err := checkRefs(r, v.lookup)
		if err != nil {
			return err
		}
		errs = append(errs, es...)
		if r.Kind == KindEndpoint {
			changedEndpoints[r.Metadata.Name] = r
		}
	}
	if len(changedEndpoints) > 0 {
		users, err := v.liveOfKind(KindIntegration)
		if err != nil {
			return err
		}
		for _, u := range users {
			if _, inBatch := v.batch[u.Key()]; inBatch {
				continue
			}
			is := u.Integration()
			for _, epName := range []string{is.Source.Endpoint, is.Destination.Endpoint} {
				ep, ok := changedEndpoints[epName]
				if !ok {
					continue
				}
				es, err := checkRefs(u, v.lookup)
				if err != nil {
					return err
				}
				for _, e := range es {
					errs = append(errs, newError(ep, "spec", fmt.Sprintf("this change would break Integration %q: %s: %s", u.Metadata.Name, e.Field, e.Problem)))
				}
				break
			}
		}
		es, err := checkChangedEndpointSubscriptions(v, changedEndpoints)
		if err != nil {
			return err
		}
		errs = append(errs, es...)
	}
	if len(errs) > 0 {
		return errs.sorted()
	}
	return nil
}

// runCheck calls check for every document of the batch that differs from its live version.
func runCheck(ctx context.Context, v *view, batch []Resource, check CheckFunc) error {
	if check == nil {
		return nil
	}
	var errs Errors
	for i := range batch {
		r := &batch[i]
		live, err := v.storedLive(r.Key())
		if err != nil {
			return err
		}
		if live != nil {
			a, aerr := live.Digest()
			b, berr := r.Digest()
			if aerr == nil && berr == nil && a == b {
				continue
			}
		}
		ps, err := check(ctx, r, live, v.lookup)
		if err != nil {
			return err
		}
		for _, p := range ps {
			errs = append(errs, newError(r, p.Field, p.Message))
		}
	}
	if len(errs) > 0 {
		return errs.sorted()
	}
	return nil
}

// lockCatalog makes catalog changes one at a time. What a batch is checked against (the
// endpoints an integration names, the integrations that use an endpoint being deleted) must
// not change before it commits; SQLite's write transactions are already exclusive, but
// PostgreSQL's READ COMMITTED would let an Apply and a Delete each pass its check and both
// commit. Catalog changes are rare and small, so one lock costs nothing worth measuring.
func lockCatalog(ctx context.Context, tx *store.Tx) error {
	if err := tx.Lock(ctx, store.LockCatalog); err != nil {
		return fmt.Errorf("lock the catalog: %w", err)
	}
	return nil
}

// current is a resource's row in catalog_resources.
type current struct {
	found   bool
	version int
	digest  string
	deleted bool
}

func readCurrent(ctx context.Context, tx *store.Tx, k Key) (current, error) {
	var c current
	var deleted int
	err := tx.QueryRow(ctx, `SELECT version, digest, deleted FROM catalog_resources WHERE kind = ? AND name = ?`,
		string(k.Kind), k.Name).Scan(&c.version, &c.digest, &deleted)
	if errors.Is(err, sql.ErrNoRows) {
		return c, nil
	}
	if err != nil {
		return c, fmt.Errorf("read %s: %w", k, err)
	}
	c.found, c.deleted = true, deleted != 0
	return c, nil
}

// write stores one validated document as a new version unless it is unchanged.
func (s *Service) write(ctx context.Context, tx *store.Tx, r *Resource, actor, now string, dryRun bool) (Change, error) {
	k := r.Key()
	doc, err := r.Canonical()
	if err != nil {
		return Change{}, err
	}
	digest, err := r.Digest()
	if err != nil {
		return Change{}, err
	}
	cur, err := readCurrent(ctx, tx, k)
	if err != nil {
		return Change{}, err
	}
	c := Change{Kind: k.Kind, Name: k.Name, Actor: actor, After: digest, Resource: r}
	switch {
	case cur.found && !cur.deleted && cur.digest == digest:
		c.Action, c.Version, c.Before = Unchanged, cur.version, digest
		return c, nil
	case cur.found && !cur.deleted:
		c.Action, c.Version, c.Before = Updated, cur.version+1, cur.digest
	default:
		c.Action, c.Version = Created, cur.version+1
	}
	if dryRun {
		return c, nil
	}
	spec, err := json.Marshal(r.Spec)
	if err != nil {
		return Change{}, fmt.Errorf("encode %s: %w", k, err)
	}
	labels, err := json.Marshal(r.Metadata.Labels)
	if err != nil {
		return Change{}, fmt.Errorf("encode %s: %w", k, err)
	}
	if r.Metadata.Labels == nil {
		labels = []byte("{}")
	}
	owner := r.Metadata.Owner
	if sys := r.System(); owner == "" && sys != nil {
		owner = sys.Owner
	}
	// A resource re-created after deletion starts a new life: created_at is reset, while
	// its version numbers carry on so that history stays one sequence.
	if _, err := tx.Exec(ctx, `INSERT INTO catalog_resources
	(kind, name, version, spec, digest, labels, owner, created_at, updated_at, updated_by, deleted)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)
	ON CONFLICT (kind, name) DO UPDATE SET
	version = excluded.version, spec = excluded.spec, digest = excluded.digest, labels = excluded.labels,
	owner = excluded.owner, updated_at = excluded.updated_at, updated_by = excluded.updated_by,
	created_at = CASE WHEN catalog_resources.deleted <> 0 THEN excluded.created_at ELSE catalog_resources.created_at END,
	deleted = 0`,
		string(k.Kind), k.Name, c.Version, string(spec), digest, string(labels), owner, now, now, actor); err != nil {
		return Change{}, fmt.Errorf("write %s: %w", k, err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO catalog_versions (kind, name, version, document, digest, created_at, created_by, change)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, string(k.Kind), k.Name, c.Version, string(doc), digest, now, actor, string(c.Action)); err != nil {
		return Change{}, fmt.Errorf("write version %d of %s: %w", c.Version, k, err)
	}
	if s.opts.OnChange != nil {
		if err := s.opts.OnChange(ctx, tx, c); err != nil {
			return Change{}, fmt.Errorf("record change of %s: %w", k, err)
		}
	}
	return c, nil
}

// view is what a batch sees while it is checked: its own documents over the live store.
type view struct {
	ctx    context.Context
	tx     *store.Tx
	batch  map[Key]*Resource
	stored map[Key]*Resource
}

func newView(ctx context.Context, tx *store.Tx, batch []Resource) *view {
	v := &view{ctx: ctx, tx: tx, batch: map[Key]*Resource{}, stored: map[Key]*Resource{}}
	for i := range batch {
		v.batch[batch[i].Key()] = &batch[i]
	}
	return v
}

func (v *view) lookup(k Key) (*Resource, error) {
	if r, ok := v.batch[k]; ok {
		return r, nil
	}
	return v.storedLive(k)
}

// storedLive is the live stored version of k (nil when there is none), ignoring the batch.
func (v *view) storedLive(k Key) (*Resource, error) {
	if r, ok := v.stored[k]; ok {
		return r, nil
	}
	var doc string
	err := v.tx.QueryRow(v.ctx, `SELECT d.document FROM catalog_resources r
	JOIN catalog_versions d ON d.kind = r.kind AND d.name = r.name AND d.version = r.version
	WHERE r.kind = ? AND r.name = ? AND r.deleted = 0`, string(k.Kind), k.Name).Scan(&doc)
	var r *Resource
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return nil, fmt.Errorf("read %s: %w", k, err)
	default:
		if r, err = decodeStored(doc); err != nil {
			return nil, err
		}
	}
	v.stored[k] = r
	return r, nil
}

func (v *view) liveOfKind(kind Kind) ([]*Resource, error) {
	entries, err := queryLive(v.ctx, v.tx, kind)
	if err != nil {
		return nil, err
	}
	out := make([]*Resource, len(entries))
	for i := range entries {
		out[i] = &entries[i].Resource
	}
	return out, nil
}

// decodeStored reads a stored document.
func decodeStored(doc string) (*Resource, error) {
	var r Resource
	if err := json.Unmarshal([]byte(doc), &r); err != nil {
		return nil, fmt.Errorf("read stored resource: %w", err)
	}
	return &r, nil
}

// Entry is a live resource with its bookkeeping.
type Entry struct {
	Resource  Resource  `json:"resource"`
	Version   int       `json:"version"`
	Digest    string    `json:"digest"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
	UpdatedBy string    `json:"updatedBy"`
}

const entryColumns = `r.kind, r.name, r.version, r.digest, r.labels, r.created_at, r.updated_at, r.updated_by, d.document`

const entryFrom = ` FROM catalog_resources r
	JOIN catalog_versions d ON d.kind = r.kind AND d.name = r.name AND d.version = r.version
	WHERE r.deleted = 0`

// entryRow is a scanned row before its document is decoded, so that List can filter on
// labels without decoding every document.
type entryRow struct {
	kind, name, digest, labels, created, updated, by, doc string
	version                                               int
}

func scanEntry(rows *sql.Rows) (entryRow, error) {
	var e entryRow
	err := rows.Scan(&e.kind, &e.name, &e.version, &e.digest, &e.labels, &e.created, &e.updated, &e.by, &e.doc)
	return e, err
}

func (e entryRow) entry() (Entry, error) {
	r, err := decodeStored(e.doc)
	if err != nil {
		return Entry{}, fmt.Errorf("%s %q: %w", e.kind, e.name, err)
	}
	out := Entry{Resource: *r, Version: e.version, Digest: e.digest, UpdatedBy: e.by}
	if out.CreatedAt, err = store.ParseTime(e.created); err != nil {
		return Entry{}, fmt.Errorf("%s %q: created_at: %w", e.kind, e.name, err)
	}
	if out.UpdatedAt, err = store.ParseTime(e.updated); err != nil {
		return Entry{}, fmt.Errorf("%s %q: updated_at: %w", e.kind, e.name, err)
	}
	return out, nil
}

// querier is what both DB and Tx offer, with '?' placeholders.
type querier interface {
	Query(ctx context.Context, q string, args ...any) (*sql.Rows, error)
}

// queryLive returns every live resource of a kind ("" for all), by kind and name.
func queryLive(ctx context.Context, q querier, kind Kind) ([]Entry, error) {
	query := `SELECT ` + entryColumns + entryFrom
	var args []any
	if kind != "" {
		query += ` AND r.kind = ?`
		args = append(args, string(kind))
	}
	rows, err := q.Query(ctx, query+` ORDER BY r.kind, r.name`, args...)
	if err != nil {
		return nil, fmt.Errorf("list resources: %w", err)
	}
	defer func() { _ = rows.Close() }()
	var out []Entry
	for rows.Next() {
		row, err := scanEntry(rows)
		if err != nil {
			return nil, fmt.Errorf("list resources: %w", err)
		}
		e, err := row.entry()
		if err != nil {
			return nil, fmt.Errorf("list resources: %w", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list resources: %w", err)
	}
	return out, nil
}

// Get returns a live resource; the error wraps ErrNotFound when there is none.
func (s *Service) Get(ctx context.Context, kind Kind, name string) (Entry, error) {
	rows, err := s.db.Query(ctx, `SELECT `+entryColumns+entryFrom+` AND r.kind = ? AND r.name = ?`, string(kind), name)
	if err != nil {
		return Entry{}, fmt.Errorf("get %s %q: %w", kind, name, err)
	}
	defer func() { _ = rows.Close() }()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return Entry{}, fmt.Errorf("get %s %q: %w", kind, name, err)
		}
		return Entry{}, fmt.Errorf("%s %q: %w", kind, name, ErrNotFound)
	}
	row, err := scanEntry(rows)
	if err != nil {
		return Entry{}, fmt.Errorf("get %s %q: %w", kind, name, err)
	}
	return row.entry()
}

// ListOptions select and page List's results.
type ListOptions struct {
	// Selector filters on labels: comma-separated k=v, k!=v, k (has the label) or !k.
	Selector string
	// Limit is the page size (default 100, at most 1000).
	Limit int
	// Cursor continues after the previous page (the next cursor List returned).
	Cursor string
}

// List returns live resources of a kind ("" for every kind), ordered by kind and name, one
// page at a time; next is the cursor of the following page, "" after the last.
func (s *Service) List(ctx context.Context, kind Kind, opts ListOptions) (entries []Entry, next string, err error) {
	sel, err := parseSelector(opts.Selector)
	if err != nil {
		return nil, "", err
	}
	limit := opts.Limit
	switch {
	case limit == 0:
		limit = 100
	case limit < 0 || limit > 1000:
		return nil, "", fmt.Errorf("list limit %d: want 1 to 1000", limit)
	}
	query := `SELECT ` + entryColumns + entryFrom
	var args []any
	if kind != "" {
		query += ` AND r.kind = ?`
		args = append(args, string(kind))
	}
	if opts.Cursor != "" {
		ck, cn, err := decodeCursor(opts.Cursor)
		if err != nil {
			return nil, "", err
		}
		query += ` AND (r.kind > ? OR (r.kind = ? AND r.name > ?))`
		args = append(args, ck, ck, cn)
	}
	rows, err := s.db.Query(ctx, query+` ORDER BY r.kind, r.name`, args...)
	if err != nil {
		return nil, "", fmt.Errorf("list resources: %w", err)
	}
	defer func() { _ = rows.Close() }()
	for rows.Next() {
		row, err := scanEntry(rows)
		if err != nil {
			return nil, "", fmt.Errorf("list resources: %w", err)
		}
		var labels map[string]string
		if err := json.Unmarshal([]byte(row.labels), &labels); err != nil {
			return nil, "", fmt.Errorf("list resources: %s %q labels: %w", row.kind, row.name, err)
		}
		if !sel.matches(labels) {
			continue
		}
		if len(entries) == limit {
			last := entries[len(entries)-1].Resource
			return entries, encodeCursor(string(last.Kind), last.Metadata.Name), nil
		}
		e, err := row.entry()
		if err != nil {
			return nil, "", fmt.Errorf("list resources: %w", err)
		}
		entries = append(entries, e)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("list resources: %w", err)
	}
	return entries, "", nil
}

func encodeCursor(kind, name string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(kind + "\x00" + name))
}

func decodeCursor(c string) (kind, name string, err error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err == nil {
		var ok bool
		if kind, name, ok = strings.Cut(string(b), "\x00"); ok {
			return kind, name, nil
		}
	}
	return "", "", fmt.Errorf("list resources: invalid cursor %s", quote(c))
}

// Delete removes a live resource as a new version (its history stays). It refuses an
// Endpoint an Integration or a Subscription's delivery uses, a Topic a Subscription or an
// event trigger uses, and a System an Endpoint belongs to, naming them; the error then wraps
// ErrInUse, and ErrNotFound when there is nothing to delete.
func (s *Service) Delete(ctx context.Context, kind Kind, name, actor string) (Change, error) {
	return s.DeleteChecked(ctx, kind, name, actor, nil)
}

// DeleteChecked is Delete with a check of the live resource, made inside the transaction
// before anything is written: its error refuses the deletion (and is returned wrapped).
func (s *Service) DeleteChecked(ctx context.Context, kind Kind, name, actor string, check func(ctx context.Context, r *Resource) error) (Change, error) {
	if actor == "" {
		return Change{}, fmt.Errorf("delete %s %q: no actor given", kind, name)
	}
	var c Change
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		if err := lockCatalog(ctx, tx); err != nil {
			return err
		}
		k := Key{kind, name}
		v := newView(ctx, tx, nil)
		r, err := v.lookup(k)
		if err != nil {
			return err
		}
		if r == nil {
			return ErrNotFound
		}
		if check != nil {
			if err := check(ctx, r); err != nil {
				return err
			}
		}
		if err := checkUnused(v, r); err != nil {
			return err
		}
		cur, err := readCurrent(ctx, tx, k)
		if err != nil {
			return err
		}
		doc, err := r.Canonical()
		if err != nil {
			return err
		}
		now := store.Time(s.opts.Now())
		c = Change{Kind: kind, Name: name, Action: Deleted, Version: cur.version + 1, Before: cur.digest, Actor: actor, Resource: r}
		if _, err := tx.Exec(ctx, `UPDATE catalog_resources SET version = ?, deleted = 1, updated_at = ?, updated_by = ? WHERE kind = ? AND name = ?`,
			c.Version, now, actor, string(kind), name); err != nil {
			return fmt.Errorf("write %s: %w", k, err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO catalog_versions (kind, name, version, document, digest, created_at, created_by, change)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, string(kind), name, c.Version, string(doc), cur.digest, now, actor, string(Deleted)); err != nil {
			return fmt.Errorf("write version %d of %s: %w", c.Version, k, err)
		}
		if s.opts.OnChange != nil {
			if err := s.opts.OnChange(ctx, tx, c); err != nil {
				return fmt.Errorf("record change of %s: %w", k, err)
			}
		}
		return nil
	})
	if err != nil {
		return Change{}, fmt.Errorf("delete %s %q: %w", kind, name, err)
	}
	return c, nil
}

// checkUnused refuses deleting what a live resource refers to.
func checkUnused(v *view, r *Resource) error {
	var users []string
	switch r.Kind {
	case KindSystem:
		eps, err := v.liveOfKind(KindEndpoint)
		if err != nil {
			return err
		}
		for _, e := range eps {
			if e.Endpoint().System == r.Metadata.Name {
				users = append(users, e.Key().String())
			}
		}
	case KindEndpoint:
		ins, err := v.liveOfKind(KindIntegration)
		if err != nil {
			return err
		}
		for _, in := range ins {
			is := in.Integration()
			if is.Source.Endpoint == r.Metadata.Name || is.Destination.Endpoint == r.Metadata.Name {
				users = append(users, in.Key().String())
			}
		}
		subs, err := endpointSubscriptions(v, r.Metadata.Name)
		if err != nil {
			return err
		}
		for _, sub := range subs {
			users = append(users, sub.Key().String())
		}
	case KindTopic:
		var err error
		if users, err = topicUsers(v, r.Metadata.Name); err != nil {
			return err
		}
	}
	if len(users) > 0 {
		return fmt.Errorf("%w by %s; delete or change them first", ErrInUse, strings.Join(users, ", "))
	}
	return nil
}

// Revision is one version of a resource.
type Revision struct {
	Version   int       `json:"version"`
	Change    Action    `json:"change"`
	Digest    string    `json:"digest"`
	CreatedAt time.Time `json:"createdAt"`
	CreatedBy string    `json:"createdBy"`
	// Resource is the document of this version; for a deletion, the document deleted.
	Resource Resource `json:"resource"`
}

const revisionQuery = `SELECT version, change, digest, created_at, created_by, document FROM catalog_versions WHERE kind = ? AND name = ?`

func scanRevisions(rows *sql.Rows) ([]Revision, error) {
	var out []Revision
	for rows.Next() {
		var rv Revision
		var change, created, doc string
		if err := rows.Scan(&rv.Version, &change, &rv.Digest, &created, &rv.CreatedBy, &doc); err != nil {
			return nil, err
		}
		rv.Change = Action(change)
		var err error
		if rv.CreatedAt, err = store.ParseTime(created); err != nil {
			return nil, err
		}
		r, err := decodeStored(doc)
		if err != nil {
			return nil, err
		}
		rv.Resource = *r
		out = append(out, rv)
	}
	return out, rows.Err()
}

// History returns every version of a resource, oldest first, deletions included.
func (s *Service) History(ctx context.Context, kind Kind, name string) ([]Revision, error) {
	rows, err := s.db.Query(ctx, revisionQuery+` ORDER BY version`, string(kind), name)
	if err != nil {
		return nil, fmt.Errorf("history of %s %q: %w", kind, name, err)
	}
	defer func() { _ = rows.Close() }()
	out, err := scanRevisions(rows)
	if err != nil {
		return nil, fmt.Errorf("history of %s %q: %w", kind, name, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s %q: %w", kind, name, ErrNotFound)
	}
	return out, nil
}

// Version returns one version of a resource.
func (s *Service) Version(ctx context.Context, kind Kind, name string, version int) (Revision, error) {
	rows, err := s.db.Query(ctx, revisionQuery+` AND version = ?`, string(kind), name, version)
	if err != nil {
		return Revision{}, fmt.Errorf("version %d of %s %q: %w", version, kind, name, err)
	}
	defer func() { _ = rows.Close() }()
	out, err := scanRevisions(rows)
	if err != nil {
		return Revision{}, fmt.Errorf("version %d of %s %q: %w", version, kind, name, err)
	}
	if len(out) == 0 {
		return Revision{}, fmt.Errorf("version %d of %s %q: %w", version, kind, name, ErrNotFound)
	}
	return out[0], nil
}

// Export writes every live resource as multi-document YAML in dependency order (Systems,
// Endpoints, Integrations, each by name), which Apply takes back as it is: applying an
// export to the catalog it came from changes nothing. Secret references stay references.
func (s *Service) Export(ctx context.Context, w io.Writer) error {
	entries, err := queryLive(ctx, s.db, "")
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	rs := make([]Resource, len(entries))
	for i, e := range entries {
		rs[i] = e.Resource
	}
	sort.SliceStable(rs, func(i, j int) bool {
		if a, b := rs[i].Kind.rank(), rs[j].Kind.rank(); a != b {
			return a < b
		}
		return rs[i].Metadata.Name < rs[j].Metadata.Name
	})
	if err := writeDocuments(w, rs); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	return nil
}
