package connector

// OptionsSchema is a JSON Schema (draft 2020-12) of the options an Endpoint of this connector
// may set in spec.options and in an environment's options. Values are strings in resource
// files, so the typed ones also accept their YAML scalar (true, 10). Secret options are not
// properties (they are refused inline): they are listed under x-datahub-secrets, to be set
// through the Endpoint's secrets: references. Driver parameters (Spec.DriverParams) belong in
// the URL's query, not here.
func (s *Spec) OptionsSchema() map[string]any {
	props := map[string]any{}
	var secrets []string
	for i := range s.Options {
		o := &s.Options[i]
		if o.IsSecret() {
			secrets = append(secrets, o.Name)
			continue
		}
		p := map[string]any{"description": o.Help, "x-datahub-type": string(o.Kind())}
		if o.Default != "" {
			p["default"] = o.Default
		}
		switch o.Kind() {
		case OptInt:
			p["type"] = []string{"integer", "string"}
			p["pattern"] = `^\s*[+-]?[0-9]+\s*$`
		case OptBool:
			p["type"] = []string{"boolean", "string"}
			p["enum"] = []any{true, false, "true", "false", "yes", "no", "on", "off", "1", "0"}
		case OptDuration:
			p["type"] = "string"
			p["pattern"] = `^\s*([0-9]+(\.[0-9]*)?(ns|us|µs|ms|s|m|h))+\s*$`
		case OptSize:
			p["type"] = []string{"integer", "string"}
			p["pattern"] = `^\s*[0-9]+\s*([kKmMgGtT][iI]?[bB]?|[bB])?\s*$`
		case OptEnum:
			p["type"] = "string"
			p["enum"] = o.Enum
		case OptChar:
			p["type"] = "string"
			p["minLength"] = 1
		default:
			p["type"] = "string"
		}
		props[o.Name] = p
	}
	out := map[string]any{
		"$schema":              "https://json-schema.org/draft/2020-12/schema",
		"$id":                  "https://datahub.dev/schemas/connectors/" + s.Name + "/options.json",
		"title":                s.Name + " endpoint options",
		"description":          s.Summary,
		"type":                 "object",
		"properties":           props,
		"additionalProperties": false,
	}
	if len(secrets) > 0 {
		out["x-datahub-secrets"] = secrets
	}
	return out
}
