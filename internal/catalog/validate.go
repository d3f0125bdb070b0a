package catalog

import (
	"errors"
	"fmt"
	"net/url"
	"path"
	"regexp"
	"slices"
	"strings"

	"github.com/datahub-oss/datahub/connector"
	"github.com/datahub-oss/datahub/internal/ctrlchar"
	"github.com/datahub-oss/datahub/internal/redact"
)

var (
	namePattern = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)
	// Label keys and values follow Kubernetes' rules, which people who write YAML resources
	// already know: an optional DNS prefix and a short name.
	labelKeyPattern   = regexp.MustCompile(`^([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$`)
	labelValuePattern = regexp.MustCompile(`^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$`)
	emailPattern      = regexp.MustCompile(`^[^@\s]+@[^@\s]+\.[^@\s]+$`)
	teamPattern       = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9 ._-]{0,99}$`)
	secretNamePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$`)
	envVarPattern     = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,127}$`)
	headerNamePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9-]{0,127}$`)
)

const nameRule = "must be 1-63 lower-case letters, digits and '-', starting and ending with a letter or digit"

// checker collects the problems of one resource.
type checker struct {
	r    *Resource
	errs Errors
	// local checks an endpoints file's resource, which needs no System.
	local bool
}

func (c *checker) fail(path, format string, args ...any) {
	c.errs = append(c.errs, newError(c.r, path, fmt.Sprintf(format, args...)))
}

// checkResource normalizes r in place (environment names upper-case, defaults filled in) and
// checks everything that does not depend on other resources. Normalizing twice changes
// nothing, so a stored, exported and re-parsed resource has the same digest.
func checkResource(r *Resource) Errors { return checkResourceIn(r, false) }

// checkResourceIn is checkResource; local checks an endpoints file's resource (see
// ParseEndpointsFile).
func checkResourceIn(r *Resource, local bool) Errors {
	c := &checker{r: r, local: local}
	if r.APIVersion != APIVersion {
		c.fail("apiVersion", "%s is not supported (want %s)", quote(r.APIVersion), APIVersion)
	}
	c.metadata(&r.Metadata)
	switch s := r.Spec.(type) {
	case *SystemSpec:
		c.system(s)
	case *EndpointSpec:
		c.endpoint(s)
	case *IntegrationSpec:
		c.integration(s)
	case *NotificationRuleSpec:
		c.notificationRule(s)
	case *TopicSpec:
		c.topic(s)
	case *SubscriptionSpec:
		c.subscription(s)
	case nil:
		c.fail("spec", "missing")
	}
	if r.Spec != nil && r.Kind != r.Spec.specKind() {
		c.fail("kind", "%s does not match a %s spec", quote(string(r.Kind)), r.Spec.specKind())
	}
	return c.errs
}

func (c *checker) metadata(m *Metadata) {
	switch {
	case m.Name == "":
		c.fail("metadata.name", "missing")
	case !namePattern.MatchString(m.Name):
		c.fail("metadata.name", "%s %s", quote(m.Name), nameRule)
	}
	for _, k := range sortedKeys(m.Labels) {
		if !labelKeyPattern.MatchString(k) {
			c.fail("metadata.labels."+k, "label names are up to 63 letters, digits, '-', '_' and '.' (with an optional domain/ prefix)")
		}
		if !labelValuePattern.MatchString(m.Labels[k]) {
			c.fail("metadata.labels."+k, "label values are up to 63 letters, digits, '-', '_' and '.', starting and ending with a letter or digit")
		}
	}
	if len(m.Labels) == 0 {
		m.Labels = nil
	}
	if len(m.Owner) > 200 {
		c.fail("metadata.owner", "longer than 200 characters")
	}
	c.printable("metadata.owner", m.Owner)
}

// printable refuses control and invisible formatting characters in a name or an e-mail
// address that people read (see package ctrlchar).
func (c *checker) printable(p, v string) {
	if r, _, ok := ctrlchar.Find(v); ok {
		c.fail(p, "%U is a control or invisible formatting character; names and e-mail addresses may not contain them", r)
	}
}

// classification checks a level, defaulting an empty one.
func (c *checker) classification(p string, v *string) {
	if *v == "" {
		*v = DefaultClassification
	}
	if !slices.Contains(Classifications, *v) {
		c.fail(p, "%s", notOneOf(*v, Classifications))
	}
}

func (c *checker) system(s *SystemSpec) {
	switch {
	case s.Owner == "":
		c.fail("spec.owner", "missing (an email address or a team name)")
	case strings.Contains(s.Owner, "@"):
		if !emailPattern.MatchString(s.Owner) {
			c.fail("spec.owner", "%s is not an email address", quote(s.Owner))
		}
		c.printable("spec.owner", s.Owner)
	case !teamPattern.MatchString(s.Owner):
		c.fail("spec.owner", "%s is neither an email address nor a team name (letters, digits, spaces, '.', '_', '-')", quote(s.Owner))
	}
	for i, ct := range s.Contacts {
		p := fmt.Sprintf("spec.contacts[%d]", i)
		if strings.TrimSpace(ct.Name) == "" {
			c.fail(p+".name", "missing")
		}
		c.printable(p+".name", ct.Name)
		c.printable(p+".email", ct.Email)
		c.printable(p+".role", ct.Role)
		if ct.Email != "" && !emailPattern.MatchString(ct.Email) {
			c.fail(p+".email", "%s is not an email address", quote(ct.Email))
		}
	}
	c.classification("spec.classification", &s.Classification)
}

// normEnv returns the canonical (upper-case) environment name.
func normEnv(s string) (string, bool) {
	u := strings.ToUpper(strings.TrimSpace(s))
	return u, slices.Contains(Environments, u)
}

func (c *checker) endpoint(s *EndpointSpec) {
	if s.System == "" && !c.local {
		c.fail("spec.system", "missing (the name of the System the endpoint belongs to)")
	}
	spec, ok := connector.Lookup(s.Type)
	switch {
	case s.Type == "":
		c.fail("spec.type", "missing (a connector: %s)", strings.Join(connectorNames(), ", "))
	case !ok:
		c.fail("spec.type", "%s", notOneOf(s.Type, connectorNames()))
	}
	if len(s.Environments) == 0 {
		c.fail("spec.environments", "missing (a URL for at least one of %s)", strings.Join(Environments, ", "))
	}
	envs := make(map[string]EnvironmentEndpoint, len(s.Environments))
	written := map[string]string{}
	for _, k := range sortedKeys(s.Environments) {
		e := s.Environments[k]
		name, ok := normEnv(k)
		if !ok {
			c.fail("spec.environments."+k, "%s", notOneOf(k, Environments))
			continue
		}
		if prev, dup := written[name]; dup {
			c.fail("spec.environments."+k, "environment %s is written twice (%q and %q)", name, prev, k)
			continue
		}
		written[name] = k
		p := "spec.environments." + name
		c.url(p+".url", e.URL, spec)
		c.options(p+".options", e.Options, spec)
		if len(e.Options) == 0 {
			e.Options = nil
		}
		c.secrets(p+".secrets", e.Secrets, spec)
		if len(e.Secrets) == 0 {
			e.Secrets = nil
		}
		envs[name] = e
	}
	s.Environments = envs
	c.options("spec.options", s.Options, spec)
	if len(s.Options) == 0 {
		s.Options = nil
	}
	c.secrets("spec.secrets", s.Secrets, spec)
	if len(s.Secrets) == 0 {
		s.Secrets = nil
	}
	c.classification("spec.classificationClearance", &s.ClassificationClearance)
}

// secrets checks an endpoint's (or one environment's) secret references at field.
func (c *checker) secrets(field string, secrets map[string]string, spec *connector.Spec) {
	for _, k := range sortedKeys(secrets) {
		p := field + "." + k
		// Besides the password and declared options, a secret may be a URL parameter the
		// connector hands to its driver (postgres' sslpassword, say), which looks secret.
		if k != "password" && spec != nil && findOption(spec, k) == nil && !looksSecret(k) {
			names := append([]string{"password"}, optionNames(spec)...)
			msg := fmt.Sprintf("connector %s has no option %q", spec.Name, k)
			if sug := closest(k, names); sug != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", sug)
			}
			c.fail(p, "%s; a secret is the password or one of the options %s", msg, strings.Join(names, ", "))
		}
		if problem := checkReference(secrets[k]); problem != "" {
			c.fail(p, "%s", problem)
		}
	}
}

// url checks an endpoint URL: present, served by the endpoint's connector, and free of
// inline secrets. Messages show the URL redacted.
func (c *checker) url(p, raw string, spec *connector.Spec) {
	if strings.TrimSpace(raw) == "" {
		c.fail(p, "missing")
		return
	}
	if len(redact.Secrets(raw)) > 0 {
		if param := secretParam(raw); param != "" {
			c.fail(p, "the URL carries a secret in its %q parameter; remove it and reference a secret instead: secrets: {%s: secret:NAME}", param, param)
		} else {
			c.fail(p, "the URL carries a password; remove it and reference a secret instead: secrets: {password: secret:NAME}")
		}
		return
	}
	got, err := connector.Resolve(raw)
	switch {
	case err != nil:
		c.fail(p, "%s: no connector serves URL scheme %q (known: %s)", quote(connector.Redact(raw)), connector.Scheme(raw), strings.Join(schemes(), ", "))
	case spec != nil && got.Name != spec.Name:
		c.fail(p, "%s is a %s URL, but the endpoint's type is %s", quote(connector.Redact(raw)), got.Name, spec.Name)
	default:
		c.query(p, raw, got)
	}
}

// secretParam names the query parameter that carries a secret, "" when it is the password.
func secretParam(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	if u.User != nil {
		if p, ok := u.User.Password(); ok && p != "" {
			return ""
		}
	}
	for _, k := range sortedKeys(u.Query()) {
		if (looksSecret(k) || connector.SecretOption(u.Scheme, k)) && u.Query().Get(k) != "" {
			return k
		}
	}
	return ""
}

// looksSecret reports whether an option name suggests its value is a secret (the same words
// connector.Redact looks for).
func looksSecret(name string) bool {
	l := strings.ToLower(name)
	if l == "key_columns" {
		return false
	}
	for _, w := range []string{"password", "passwd", "secret", "token", "key", "sig", "credential"} {
		if strings.Contains(l, w) {
			return true
		}
	}
	return false
}

// options checks connector options against the connector's spec. Values of options that are
// (or look) secret are refused without being repeated.
func (c *checker) options(p string, opts map[string]string, spec *connector.Spec) {
	for _, k := range sortedKeys(opts) {
		op := p + "." + k
		var o *connector.Option
		if spec != nil {
			o = findOption(spec, k)
		}
		if (o != nil && o.IsSecret()) || (o == nil && looksSecret(k)) {
			c.fail(op, "%q is a secret; reference it instead of writing it here: secrets: {%s: secret:NAME}", k, k)
			continue
		}
		if spec == nil {
			continue
		}
		if o == nil {
			msg := fmt.Sprintf("connector %s has no option %q", spec.Name, k)
			if sug := closest(k, optionNames(spec)); sug != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", sug)
			} else if names := optionNames(spec); len(names) > 0 {
				msg += " (options: " + strings.Join(names, ", ") + ")"
			}
			c.fail(op, "%s", msg)
			continue
		}
		if err := spec.CheckOption(k, opts[k]); err != nil {
			var oe *connector.OptionError
			if errors.As(err, &oe) {
				c.fail(op, "%s", oe.Problem) // the field names the option already
			} else {
				c.fail(op, "%s", err)
			}
		}
	}
}

// query checks the options in an endpoint URL's query against the connector's spec, as the
// connector will parse them: declared (or the driver's, for connectors that pass their query
// on) and well typed. p names the URL's field.
func (c *checker) query(p, raw string, spec *connector.Spec) {
	pairs, err := connector.QueryOptions(raw)
	if err != nil {
		c.fail(p, "%v", err)
		return
	}
	for _, kv := range pairs {
		// Secret values never get here: url refuses a URL that carries one before.
		k, v := kv[0], kv[1]
		if err := spec.CheckOption(k, v); err != nil {
			msg := err.Error()
			if sug := closest(k, optionNames(spec)); sug != "" && spec.Option(k) == nil {
				msg = fmt.Sprintf("connector %s has no option %q (did you mean %q?)", spec.Name, k, sug)
			}
			c.fail(p, "the URL's query: %s", msg)
		}
	}
}

// checkReference returns what is wrong with a secret reference, "" when it is well formed.
// It never repeats the value: a value that is not a reference may be the secret itself.
func checkReference(ref string) string {
	scheme, rest, _ := strings.Cut(ref, ":")
	switch scheme {
	case "secret":
		if !secretNamePattern.MatchString(rest) {
			return "secret:NAME needs a name of letters, digits, '.', '_' and '-'"
		}
	case "env":
		if !envVarPattern.MatchString(rest) {
			return "env:NAME needs an environment variable name (letters, digits and '_')"
		}
	case "file":
		if rest == "" || strings.ContainsRune(rest, 0) {
			return "file:PATH needs a path"
		}
	default:
		return "must be a reference: secret:NAME, env:NAME or file:PATH (never the secret itself)"
	}
	return ""
}

func findOption(spec *connector.Spec, name string) *connector.Option { return spec.Option(name) }

func optionNames(spec *connector.Spec) []string { return spec.OptionNames() }

func connectorNames() []string {
	var names []string
	for _, s := range connector.Specs() {
		names = append(names, s.Name)
	}
	return names
}

func schemes() []string {
	var out []string
	for _, s := range connector.Specs() {
		out = append(out, s.Schemes...)
	}
	slices.Sort(out)
	return out
}

func (c *checker) integration(s *IntegrationSpec) {
	if s.Source.Endpoint == "" {
		c.fail("spec.source.endpoint", "missing (the name of the Endpoint to read)")
	}
	if n := count(s.Source.Table, s.Source.Query, s.Source.Path); n > 1 {
		c.fail("spec.source", "give one of table, query and path, not %d", n)
	}
	c.relPath("spec.source.path", s.Source.Path)
	d := &s.Destination
	if d.Endpoint == "" {
		c.fail("spec.destination.endpoint", "missing (the name of the Endpoint to write)")
	}
	if d.Table != "" && d.Path != "" {
		c.fail("spec.destination", "give one of table and path, not both")
	}
	c.relPath("spec.destination.path", d.Path)
	if d.Mode == "" {
		d.Mode = "append"
	}
	if !slices.Contains(writeModes, d.Mode) {
		c.fail("spec.destination.mode", "%s", notOneOf(d.Mode, writeModes))
	}
	c.names("spec.destination.keys", d.Keys)
	if d.Mode == "upsert" && len(d.Keys) == 0 {
		c.fail("spec.destination.keys", "mode upsert needs keys (the columns that identify a row)")
	}
	if s.Mapping != nil {
		c.mapping(s)
	}
	if s.Trigger.Type == "" {
		s.Trigger.Type = "manual"
	}
	if !slices.Contains(triggerTypes, s.Trigger.Type) {
		c.fail("spec.trigger.type", "%s", notOneOf(s.Trigger.Type, triggerTypes))
	}
	if len(s.Trigger.Settings) == 0 {
		s.Trigger.Settings = nil
	}
	c.classification("spec.classification", &s.Classification)
	c.names("spec.privacy.fields", s.Privacy.Fields)
	if len(s.Privacy.Fields) > 0 && !s.Privacy.PersonalData {
		c.fail("spec.privacy.personalData", "fields are listed as personal data, so personalData must be true")
	}
	if s.Concurrency == 0 {
		s.Concurrency = 1
	}
	if s.Concurrency < 1 || s.Concurrency > 1000 {
		c.fail("spec.concurrency", "must be between 1 and 1000")
	}
	if s.Retries < 0 || s.Retries > 100 {
		c.fail("spec.retries", "must be between 0 and 100")
	}
	if s.Destination.InferRows < 0 {
		c.fail("spec.destination.inferRows", "must be 0 or more (0: the default, 10000)")
	}
	if s.MaxRejects != nil && *s.MaxRejects < 0 {
		c.fail("spec.maxRejects", "must be 0 or more (leave it out for the mode's default: none for replace, no limit otherwise)")
	}
	seen := map[string]bool{}
	for i, e := range s.Environments {
		p := fmt.Sprintf("spec.environments[%d]", i)
		name, ok := normEnv(e)
		switch {
		case !ok:
			c.fail(p, "%s", notOneOf(e, Environments))
		case seen[name]:
			c.fail(p, "%s is listed twice", name)
		}
		seen[name] = true
		s.Environments[i] = name
	}
	if len(s.Environments) == 0 {
		s.Environments = nil
	}
}

func (c *checker) mapping(s *IntegrationSpec) {
	m := s.Mapping
	from := map[string]bool{}
	to := map[string]bool{}
	for i, r := range m.Rules {
		p := fmt.Sprintf("spec.mapping.columns[%d]", i)
		if r.From == "" {
			c.fail(p+".from", "missing (the source column)")
			continue
		}
		if from[r.From] {
			c.fail(p+".from", "column %s is mapped twice", quote(r.From))
		}
		from[r.From] = true
		if r.Type != "" {
			if _, err := connector.ParseType(r.Type); err != nil {
				c.fail(p+".type", "%v", err)
			}
		}
		dst := r.To
		if dst == "" {
			dst = r.From
		}
		if to[strings.ToLower(dst)] {
			c.fail(p, "destination column %s is produced twice", quote(dst))
		}
		to[strings.ToLower(dst)] = true
	}
	for i, d := range m.Drop {
		p := fmt.Sprintf("spec.mapping.drop[%d]", i)
		switch {
		case d == "":
			c.fail(p, "empty column name")
		case from[d]:
			c.fail(p, "column %s is both mapped and dropped", quote(d))
		}
	}
	if m.Empty() {
		s.Mapping = nil
	}
}

// names checks a list of column names: none empty, none twice.
func (c *checker) names(p string, names []string) {
	seen := map[string]bool{}
	for i, n := range names {
		switch {
		case n == "":
			c.fail(fmt.Sprintf("%s[%d]", p, i), "empty column name")
		case seen[n]:
			c.fail(fmt.Sprintf("%s[%d]", p, i), "%s is listed twice", quote(n))
		}
		seen[n] = true
	}
}

// relPath refuses paths that would leave the endpoint's folder: an Integration may only name
// files inside what its Endpoint points at.
func (c *checker) relPath(p, v string) {
	if v == "" {
		return
	}
	s := strings.ReplaceAll(v, `\`, "/")
	if strings.HasPrefix(s, "/") || (len(s) > 1 && s[1] == ':') || slices.Contains(strings.Split(path.Clean(s), "/"), "..") {
		c.fail(p, "%s must be relative to the endpoint's URL, without '..'", quote(v))
	}
}

func count(vs ...string) int {
	n := 0
	for _, v := range vs {
		if v != "" {
			n++
		}
	}
	return n
}

// lookupFunc finds a live resource (in the batch being applied or in the store); nil when
// there is none.
type lookupFunc func(Key) (*Resource, error)

// checkRefs checks what r says about other resources. Problems are reported under r.
func checkRefs(r *Resource, lookup lookupFunc) (Errors, error) {
	c := &checker{r: r}
	switch s := r.Spec.(type) {
	case *EndpointSpec:
		sys, err := lookup(Key{KindSystem, s.System})
		if err != nil {
			return nil, err
		}
		if sys == nil {
			c.fail("spec.system", "no System %q (apply it first or in the same batch)", s.System)
		}
	case *IntegrationSpec:
		if err := c.integrationRefs(s, lookup); err != nil {
			return nil, err
		}
		if err := c.triggerTopicRef(s, lookup); err != nil {
			return nil, err
		}
	case *SubscriptionSpec:
		if err := c.subscriptionRefs(s, lookup); err != nil {
			return nil, err
		}
	}
	return c.errs, nil
}

func (c *checker) integrationRefs(s *IntegrationSpec, lookup lookupFunc) error {
	src, err := lookup(Key{KindEndpoint, s.Source.Endpoint})
	if err != nil {
		return err
	}
	dst, err := lookup(Key{KindEndpoint, s.Destination.Endpoint})
	if err != nil {
		return err
	}
	if src == nil {
		c.fail("spec.source.endpoint", "no Endpoint %q (apply it first or in the same batch)", s.Source.Endpoint)
	}
	if dst == nil {
		c.fail("spec.destination.endpoint", "no Endpoint %q (apply it first or in the same batch)", s.Destination.Endpoint)
	}
	if src == nil || dst == nil {
		return nil
	}
	se, de := src.Endpoint(), dst.Endpoint()
	if cs, ok := connector.Lookup(se.Type); ok {
		c.side("spec.source", s.Source.Endpoint, se, cs, true, s.Source.Table, s.Source.Query, s.Source.Path)
	}
	if cs, ok := connector.Lookup(de.Type); ok {
		c.side("spec.destination", s.Destination.Endpoint, de, cs, false, s.Destination.Table, "", s.Destination.Path)
	}
	if s.Source.Endpoint == s.Destination.Endpoint && s.Source.Query == "" &&
		s.Source.Table == s.Destination.Table && s.Source.Path == s.Destination.Path {
		c.fail("spec.destination", "the destination is the source")
	}
	var both []string
	for _, e := range Environments {
		_, inSrc := se.Environments[e]
		_, inDst := de.Environments[e]
		if inSrc && inDst {
			both = append(both, e)
		}
	}
	if len(s.Environments) == 0 && len(both) == 0 {
		c.fail("spec.environments", "endpoints %q (%s) and %q (%s) have no environment in common",
			s.Source.Endpoint, strings.Join(sortedKeys(se.Environments), ", "),
			s.Destination.Endpoint, strings.Join(sortedKeys(de.Environments), ", "))
	}
	for i, e := range s.Environments {
		for _, side := range []struct {
			name string
			ep   *EndpointSpec
		}{{s.Source.Endpoint, se}, {s.Destination.Endpoint, de}} {
			if _, ok := side.ep.Environments[e]; !ok {
				c.fail(fmt.Sprintf("spec.environments[%d]", i), "endpoint %q has no %s URL", side.name, e)
			}
		}
	}
	return nil
}

// side checks one end of an Integration against its endpoint's connector: the direction it
// supports and whether it takes tables, queries or paths.
func (c *checker) side(p, name string, ep *EndpointSpec, cs *connector.Spec, read bool, table, query, filePath string) {
	if read && !cs.CanRead() {
		c.fail(p+".endpoint", "endpoint %q (%s) cannot be read from", name, cs.Name)
	}
	if !read && !cs.CanWrite() {
		c.fail(p+".endpoint", "endpoint %q (%s) cannot be written to", name, cs.Name)
	}
	hasTable, hasQuery := findOption(cs, "table") != nil, findOption(cs, "query") != nil
	if table != "" && !hasTable {
		c.fail(p+".table", "endpoint %q (%s) has no tables; use path", name, cs.Name)
	}
	if query != "" && !hasQuery {
		c.fail(p+".query", "endpoint %q (%s) does not run queries", name, cs.Name)
	}
	if filePath != "" && !cs.Paths {
		c.fail(p+".path", "endpoint %q (%s) does not take paths; use table", name, cs.Name)
	}
	if hasTable && table == "" && query == "" && !endpointSets(ep, "table") && !endpointSets(ep, "query") {
		if read && hasQuery {
			c.fail(p, "endpoint %q (%s) needs a table or a query", name, cs.Name)
		} else {
			c.fail(p, "endpoint %q (%s) needs a table", name, cs.Name)
		}
	}
}

// endpointSets reports whether the endpoint itself sets an option in every environment.
func endpointSets(ep *EndpointSpec, name string) bool {
	if ep.Options[name] != "" {
		return true
	}
	for _, e := range ep.Environments {
		if _, ok := connector.QueryOption(e.URL, name); !ok && e.Options[name] == "" {
			return false
		}
	}
	return len(ep.Environments) > 0
}
