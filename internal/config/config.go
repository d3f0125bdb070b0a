// Package config holds the settings of `datahub serve` and `datahub worker`: defaults, then a
// YAML file (--config), then DATAHUB_* environment variables, then command-line flags, each
// overriding the one before. Validation names the bad key and where it came from.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/mail"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/datahub-oss/datahub/internal/outbound"
)

// Roles a process can take; a default server takes them all.
const (
	RoleAPI       = "api"
	RoleScheduler = "scheduler"
	RoleWorker    = "worker"
)

// OIDC configures login through an OpenID Connect identity provider.
type OIDC struct {
	Issuer   string `yaml:"issuer" env:"DATAHUB_OIDC_ISSUER"`
	ClientID string `yaml:"client_id" env:"DATAHUB_OIDC_CLIENT_ID"`
	// ClientSecret is a reference (secret:NAME, env:NAME or file:PATH), never the secret itself.
	ClientSecret string            `yaml:"client_secret" env:"DATAHUB_OIDC_CLIENT_SECRET"`
	RedirectURL  string            `yaml:"redirect_url" env:"DATAHUB_OIDC_REDIRECT_URL"`
	Scopes       []string          `yaml:"scopes" env:"DATAHUB_OIDC_SCOPES"`
	RolesClaim   string            `yaml:"roles_claim" env:"DATAHUB_OIDC_ROLES_CLAIM"`
	RoleMap      map[string]string `yaml:"role_map"`
	DefaultRole  string            `yaml:"default_role" env:"DATAHUB_OIDC_DEFAULT_ROLE"`
}

// SMTP configures the relay notification emails are sent through. No host, no email.
type SMTP struct {
	Host string `yaml:"host" env:"DATAHUB_SMTP_HOST"`
	// Port defaults to 465 with TLS, else 587.
	Port int `yaml:"port" env:"DATAHUB_SMTP_PORT"`
	// From is the sender address.
	From     string `yaml:"from" env:"DATAHUB_SMTP_FROM"`
	Username string `yaml:"username" env:"DATAHUB_SMTP_USERNAME"`
	// Password is a reference (secret:NAME, env:NAME or file:PATH), never the password itself.
	Password string `yaml:"password" env:"DATAHUB_SMTP_PASSWORD"`
	// Insecure allows a relay without STARTTLS (a local relay); the password is still never
	// sent unencrypted.
	Insecure bool `yaml:"insecure" env:"DATAHUB_SMTP_INSECURE"`
	// TLS connects with TLS from the start (port 465) instead of STARTTLS.
	TLS bool `yaml:"tls" env:"DATAHUB_SMTP_TLS"`
}

// Addr is the relay's host:port, with the default port; "" when no host is set.
func (s SMTP) Addr() string {
	if s.Host == "" {
		return ""
	}
	port := s.Port
	if port == 0 {
		port = 587
		if s.TLS {
			port = 465
		}
	}
	return net.JoinHostPort(s.Host, strconv.Itoa(port))
}

// Config is the whole configuration.
type Config struct {
	// Addr is where the API and UI listen.
	Addr string `yaml:"addr" env:"DATAHUB_ADDR" flag:"addr"`
	// Data is the data folder: SQLite store, embedded NATS, rejects, master key, admin token.
	Data string `yaml:"data" env:"DATAHUB_DATA" flag:"data"`
	// Store is a postgres:// URL for the metadata store ("" = SQLite in Data).
	Store string `yaml:"store" env:"DATAHUB_STORE" flag:"store"`
	// NATS is the URL of an external NATS JetStream cluster ("" = embedded server).
	NATS string `yaml:"nats" env:"DATAHUB_NATS" flag:"nats"`
	// NATSReplicas is how many copies of every stream and KV bucket the hub creates on an
	// external cluster (1-5; 3 survives the loss of one node). The embedded server is a single
	// node: 1 only.
	NATSReplicas int `yaml:"nats_replicas" env:"DATAHUB_NATS_REPLICAS" flag:"nats-replicas"`
	// NATSPrefix namespaces the hub's streams, buckets and subjects, so that several hubs (or
	// test runs) can share one NATS cluster.
	NATSPrefix string `yaml:"nats_prefix" env:"DATAHUB_NATS_PREFIX"`
	// NATSListen exposes the embedded NATS server on this address ("" = in-process only).
	NATSListen string `yaml:"nats_listen" env:"DATAHUB_NATS_LISTEN" flag:"nats-listen"`
	// Roles this process takes.
	Roles []string `yaml:"roles" env:"DATAHUB_ROLES" flag:"roles"`
	// Workers is how many runs this process executes at once.
	Workers int `yaml:"workers" env:"DATAHUB_WORKERS" flag:"workers"`
	// WorkerAckWait is how long a run whose worker died (no heartbeat) waits before another
	// worker takes it over; live workers heartbeat every third of it.
	WorkerAckWait time.Duration `yaml:"worker_ack_wait" env:"DATAHUB_WORKER_ACK_WAIT"`
	// LeaseTTL is how long a dead process keeps its leases (an integration's run slot, the
	// scheduler's leadership); live holders renew every third of it. Every process sharing
	// one NATS cluster and prefix must use the same value.
	LeaseTTL time.Duration `yaml:"lease_ttl" env:"DATAHUB_LEASE_TTL"`
	// CheckpointRows is how many rows a run copies between two commits (0: the engine's
	// default); a run taken over from a dead worker restarts from the last commit.
	CheckpointRows int `yaml:"checkpoint_rows" env:"DATAHUB_CHECKPOINT_ROWS"`
	// LogLevel and LogFormat (text or json) shape the server's log.
	LogLevel  string `yaml:"log_level" env:"DATAHUB_LOG_LEVEL" flag:"log-level"`
	LogFormat string `yaml:"log_format" env:"DATAHUB_LOG_FORMAT" flag:"log-format"`
	// TokenTTL is the default lifetime of new API tokens.
	TokenTTL time.Duration `yaml:"token_ttl" env:"DATAHUB_TOKEN_TTL"`
	// ShutdownTimeout bounds a graceful stop: running transfers checkpoint within it.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout" env:"DATAHUB_SHUTDOWN_TIMEOUT"`
	OIDC            OIDC          `yaml:"oidc"`
	// SMTP is the relay of notification emails.
	SMTP SMTP `yaml:"smtp"`
	// BaseURL is the hub's public address, for links in notifications (e.g.
	// https://datahub.example.org).
	BaseURL string `yaml:"base_url" env:"DATAHUB_BASE_URL"`
	// Retention is how long the hub keeps its own bookkeeping (see Retention).
	Retention Retention `yaml:"retention"`
	// Outbound guards the HTTP connections the hub opens to addresses resources name.
	Outbound Outbound `yaml:"outbound"`
	// FileRoots are the folders local file and SQLite endpoints may point into, besides the
	// data folder's files/ folder (always one). Relative ones are taken from the working
	// directory at start. The environment variable is a path list (':' between folders on
	// Unix, like PATH); the flag may be repeated.
	FileRoots []string `yaml:"file_roots" env:"DATAHUB_FILE_ROOTS" flag:"file-root" sep:"path"`
	// Secrets limits the secret references non-admin authors may use.
	Secrets Secrets `yaml:"secrets"`
	// Audit is where and how often the audit chain's head is anchored outside the store.
	Audit Audit `yaml:"audit"`
}

// Outbound configures the guard of outbound HTTP connections (package outbound): loopback,
// link-local, private and other non-global addresses are refused unless allowed here.
type Outbound struct {
	// Allow lists CIDR ranges (10.0.0.0/8), IP addresses (10.1.2.3) and host:port entries
	// (erp.internal:8443, the host name as the URL writes it, whatever it resolves to).
	Allow []string `yaml:"allow" env:"DATAHUB_OUTBOUND_ALLOW"`
}

// Secrets says which env: and file: references non-admins may put in resources (secret:
// references are for everyone; admins may use any).
type Secrets struct {
	// EnvAllow are glob patterns of environment variable names (e.g. PG_*).
	EnvAllow []string `yaml:"env_allow" env:"DATAHUB_SECRETS_ENV_ALLOW"`
	// FileAllow are glob patterns of absolute file paths (e.g. /run/secrets/*).
	FileAllow []string `yaml:"file_allow" env:"DATAHUB_SECRETS_FILE_ALLOW"`
}

// Audit configures the audit chain's anchors: the head (seq, hash, time) is written to
// AnchorFile and published as an audit.anchor event at start and every AnchorInterval (when
// it moved), by the process with the scheduler role.
type Audit struct {
	// AnchorFile is the anchor file ("" = <data>/audit-anchor.json). Put it, or a copy of it,
	// where whoever can write the store cannot.
	AnchorFile string `yaml:"anchor_file" env:"DATAHUB_AUDIT_ANCHOR_FILE"`
	// AnchorInterval is how often the head is anchored.
	AnchorInterval time.Duration `yaml:"anchor_interval" env:"DATAHUB_AUDIT_ANCHOR_INTERVAL"`
}

// Default returns the configuration of `datahub serve` with no settings at all.
func Default() Config {
	return Config{
		Addr:            "127.0.0.1:8080",
		Data:            "datahub-data",
		Roles:           []string{RoleAPI, RoleScheduler, RoleWorker},
		NATSReplicas:    1,
		Workers:         4,
		WorkerAckWait:   30 * time.Second,
		LeaseTTL:        30 * time.Second,
		LogLevel:        "info",
		LogFormat:       "text",
		TokenTTL:        90 * 24 * time.Hour,
		ShutdownTimeout: 30 * time.Second,
		OIDC:            OIDC{Scopes: []string{"openid", "profile", "email"}, RolesClaim: "groups", DefaultRole: "viewer"},
		Retention:       DefaultRetention(),
		Audit:           Audit{AnchorInterval: 5 * time.Minute},
	}
}

// Flags is the subset of a flag set Load needs: whether a flag was given, and its value.
type Flags interface {
	Changed(name string) bool
	Value(name string) string
}

// RepeatedFlags is implemented by flag sets whose list flags may be repeated (--file-root A
// --file-root B): Values returns every value given, ok false for a flag that is not repeated.
type RepeatedFlags interface {
	Values(name string) (vals []string, ok bool)
}

// Load builds the configuration: defaults, then the file at path (if not ""), then the
// environment (environ as os.Environ returns it), then the flags that were given.
func Load(path string, environ []string, flags Flags) (Config, error) {
	c := Default()
	if path != "" {
		b, err := os.ReadFile(path) //nolint:gosec // the path is the operator's --config argument
		if err != nil {
			return c, fmt.Errorf("read config file: %w", err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		dec.KnownFields(true)
		// An empty file decodes as io.EOF: it sets nothing.
		if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
			return c, fmt.Errorf("config file %s: %w", path, err)
		}
	}
	env := map[string]string{}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	if err := apply(reflect.ValueOf(&c).Elem(), func(f reflect.StructField) (string, string, bool) {
		name := f.Tag.Get("env")
		v, ok := env[name]
		if ok && f.Tag.Get("sep") == "path" {
			// A path list: the OS's separator, turned into the list setField reads.
			v = strings.Join(filepath.SplitList(v), "\x00") + "\x00"
		}
		return v, "environment variable " + name, ok && name != ""
	}); err != nil {
		return c, err
	}
	if flags != nil {
		rf, repeated := flags.(RepeatedFlags)
		if err := apply(reflect.ValueOf(&c).Elem(), func(f reflect.StructField) (string, string, bool) {
			name := f.Tag.Get("flag")
			if name == "" || !flags.Changed(name) {
				return "", "", false
			}
			if vals, ok := repeatedValues(rf, repeated, name); ok {
				return strings.Join(vals, "\x00") + "\x00", "flag --" + name, true
			}
			return flags.Value(name), "flag --" + name, true
		}); err != nil {
			return c, err
		}
	}
	return c, c.Validate()
}

func repeatedValues(rf RepeatedFlags, repeated bool, name string) ([]string, bool) {
	if !repeated {
		return nil, false
	}
	return rf.Values(name)
}

// apply sets the fields for which get returns a value, recursing into nested structs.
func apply(v reflect.Value, get func(reflect.StructField) (val, where string, ok bool)) error {
	t := v.Type()
	for i := range t.NumField() {
		f, fv := t.Field(i), v.Field(i)
		if f.Type.Kind() == reflect.Struct {
			if err := apply(fv, get); err != nil {
				return err
			}
			continue
		}
		val, where, ok := get(f)
		if !ok {
			continue
		}
		if err := setField(fv, val); err != nil {
			return fmt.Errorf("%s: %w", where, err)
		}
	}
	return nil
}

func setField(fv reflect.Value, val string) error {
	switch fv.Interface().(type) {
	case string:
		fv.SetString(val)
	case int:
		n, err := strconv.Atoi(strings.TrimSpace(val))
		if err != nil {
			return fmt.Errorf("%q is not a whole number", val)
		}
		fv.SetInt(int64(n))
	case bool:
		b, err := strconv.ParseBool(strings.TrimSpace(val))
		if err != nil {
			return fmt.Errorf("%q is not true or false", val)
		}
		fv.SetBool(b)
	case time.Duration:
		d, err := time.ParseDuration(strings.TrimSpace(val))
		if err != nil {
			return fmt.Errorf("%q is not a duration (e.g. 30s, 12h)", val)
		}
		fv.SetInt(int64(d))
	case []string:
		var parts []string
		sep := ","
		if strings.Contains(val, "\x00") {
			sep = "\x00" // a path list or repeated flags, already split
		}
		for _, p := range strings.Split(val, sep) {
			if p = strings.TrimSpace(p); p != "" {
				parts = append(parts, p)
			}
		}
		fv.Set(reflect.ValueOf(parts))
	case Age:
		return fv.Addr().Interface().(*Age).UnmarshalText([]byte(val))
	default:
		return fmt.Errorf("cannot be set from text")
	}
	return nil
}

// Validate checks every setting and names the key of the first bad one.
func (c Config) Validate() error {
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		return fmt.Errorf("addr: %q is not host:port (e.g. 127.0.0.1:8080)", c.Addr)
	}
	if c.NATSListen != "" {
		if _, _, err := net.SplitHostPort(c.NATSListen); err != nil {
			return fmt.Errorf("nats_listen: %q is not host:port (e.g. 127.0.0.1:4222)", c.NATSListen)
		}
		if c.NATS != "" {
			return errors.New("nats_listen: only the embedded NATS server listens; it cannot be combined with nats (an external cluster)")
		}
	}
	if c.NATSReplicas < 1 || c.NATSReplicas > 5 {
		return fmt.Errorf("nats_replicas: %d is not between 1 and 5 (JetStream keeps at most 5 copies)", c.NATSReplicas)
	}
	if c.NATSReplicas > 1 && c.NATS == "" {
		return fmt.Errorf("nats_replicas: %d needs a NATS cluster (nats: nats://a,nats://b,nats://c); the embedded server is one node and keeps 1 copy", c.NATSReplicas)
	}
	if c.NATSPrefix != "" && !natsPrefixRE.MatchString(c.NATSPrefix) {
		return fmt.Errorf("nats_prefix: %q must be letters, digits and '_' (at most 32)", c.NATSPrefix)
	}
	if c.Data == "" {
		return errors.New("data: the data folder must be set")
	}
	if c.Store != "" && !strings.HasPrefix(c.Store, "postgres://") && !strings.HasPrefix(c.Store, "postgresql://") {
		return errors.New("store: want a postgres:// URL (or nothing, for SQLite in the data folder)")
	}
	if c.NATS != "" && !strings.HasPrefix(c.NATS, "nats://") && !strings.HasPrefix(c.NATS, "tls://") {
		return errors.New("nats: want a nats:// or tls:// URL (or nothing, for the embedded server)")
	}
	if len(c.Roles) == 0 {
		return errors.New("roles: at least one of api, scheduler, worker")
	}
	for _, r := range c.Roles {
		if !slices.Contains([]string{RoleAPI, RoleScheduler, RoleWorker}, r) {
			return fmt.Errorf("roles: %q is not one of api, scheduler, worker", r)
		}
	}
	if c.Workers < 1 || c.Workers > 256 {
		return fmt.Errorf("workers: %d is not between 1 and 256", c.Workers)
	}
	if c.WorkerAckWait < time.Second || c.WorkerAckWait > time.Hour {
		return fmt.Errorf("worker_ack_wait: %s is not between 1s and 1h", c.WorkerAckWait)
	}
	if c.LeaseTTL < time.Second || c.LeaseTTL > time.Hour {
		return fmt.Errorf("lease_ttl: %s is not between 1s and 1h", c.LeaseTTL)
	}
	if c.CheckpointRows < 0 {
		return fmt.Errorf("checkpoint_rows: %d is negative", c.CheckpointRows)
	}
	switch strings.ToLower(c.LogLevel) {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("log_level: %q is not one of debug, info, warn, error", c.LogLevel)
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		return fmt.Errorf("log_format: %q is not text or json", c.LogFormat)
	}
	if c.TokenTTL <= 0 {
		return errors.New("token_ttl: must be positive")
	}
	if c.ShutdownTimeout <= 0 {
		return errors.New("shutdown_timeout: must be positive")
	}
	if c.OIDC.Issuer != "" {
		if c.OIDC.ClientID == "" || c.OIDC.RedirectURL == "" {
			return errors.New("oidc: issuer is set, so client_id and redirect_url are needed too")
		}
		if c.OIDC.ClientSecret != "" && !isRef(c.OIDC.ClientSecret) {
			return errors.New("oidc.client_secret: give a reference (secret:NAME, env:NAME or file:PATH), not the secret itself")
		}
	}
	if err := c.SMTP.validate(); err != nil {
		return err
	}
	if err := c.Retention.validate(); err != nil {
		return err
	}
	if err := outbound.ValidateAllow(c.Outbound.Allow); err != nil {
		return err
	}
	if c.Audit.AnchorInterval < time.Second || c.Audit.AnchorInterval > 24*time.Hour {
		return fmt.Errorf("audit.anchor_interval: %s is not between 1s and 24h", c.Audit.AnchorInterval)
	}
	if c.BaseURL != "" {
		u, err := url.Parse(c.BaseURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("base_url: %q is not an http(s) URL (e.g. https://datahub.example.org)", c.BaseURL)
		}
	}
	return nil
}

func (s SMTP) validate() error {
	if s.Host == "" {
		if s.From != "" || s.Username != "" || s.Password != "" || s.Port != 0 {
			return errors.New("smtp.host: missing (the relay's host name), while other smtp settings are given")
		}
		return nil
	}
	if strings.ContainsAny(s.Host, ":/ ") {
		return fmt.Errorf("smtp.host: %q is not a host name (give the port as smtp.port)", s.Host)
	}
	if s.Port < 0 || s.Port > 65535 {
		return fmt.Errorf("smtp.port: %d is not between 1 and 65535", s.Port)
	}
	if s.From == "" {
		return errors.New("smtp.from: missing (the sender address of notification emails)")
	}
	if a, err := mail.ParseAddress(s.From); err != nil || a.Name != "" {
		return fmt.Errorf("smtp.from: %q is not an email address", s.From)
	}
	if s.Password != "" {
		if !isRef(s.Password) {
			return errors.New("smtp.password: give a reference (secret:NAME, env:NAME or file:PATH), not the password itself")
		}
		if s.Username == "" {
			return errors.New("smtp.username: missing, while smtp.password is given")
		}
	}
	return nil
}

var natsPrefixRE = regexp.MustCompile(`^[A-Za-z0-9_]{1,32}$`)

// Has reports whether the process takes a role.
func (c Config) Has(role string) bool { return slices.Contains(c.Roles, role) }

func isRef(s string) bool {
	return strings.HasPrefix(s, "secret:") || strings.HasPrefix(s, "env:") || strings.HasPrefix(s, "file:")
}
