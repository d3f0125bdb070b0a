package connector

import (
	"maps"
	"math"
	"slices"
)

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
			if r := o.Range; r != nil {
				// For the YAML integer; a quoted number is checked at apply.
				if r.Min != math.MinInt64 {
					p["minimum"] = r.Min
				}
				if r.Max != math.MaxInt64 {
					p["maximum"] = r.Max
				}
			}
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
			// An alias is accepted, so a schema-checked file may hold it.
			p["enum"] = append(slices.Clone(o.Enum), slices.Sorted(maps.Keys(o.Aliases))...)
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

// Info is what `datahub connectors --json` and GET /api/v1/connectors show of a connector:
// its spec with every option's type spelled out and the directions it serves.
type Info struct {
	Name         string       `json:"name"`
	Schemes      []string     `json:"schemes"`
	Summary      string       `json:"summary"`
	Example      string       `json:"example,omitempty"`
	Paths        bool         `json:"paths,omitempty"`
	DriverParams bool         `json:"driver_params,omitempty"`
	Read         bool         `json:"read"`
	Write        bool         `json:"write"`
	Store        bool         `json:"store"`
	Options      []OptionInfo `json:"options"`
}

// OptionInfo is one option as Info shows it. A secret's default is never shown.
type OptionInfo struct {
	Name     string     `json:"name"`
	Type     OptionType `json:"type"`
	Help     string     `json:"help"`
	Default  string     `json:"default,omitempty"`
	Required bool       `json:"required,omitempty"`
	Secret   bool       `json:"secret,omitempty"`
	Enum     []string   `json:"enum,omitempty"`
	Range    *IntRange  `json:"range,omitempty"`
}

// Info describes the connector.
func (s *Spec) Info() Info {
	in := Info{Name: s.Name, Schemes: s.Schemes, Summary: s.Summary, Example: s.Example, Paths: s.Paths,
		DriverParams: s.DriverParams, Read: s.CanRead(), Write: s.CanWrite(), Store: s.CanStore(),
		Options: make([]OptionInfo, 0, len(s.Options))}
	if in.Schemes == nil {
		in.Schemes = []string{}
	}
	for i := range s.Options {
		o := &s.Options[i]
		oi := OptionInfo{Name: o.Name, Type: o.Kind(), Help: o.Help, Default: o.Default, Required: o.Required,
			Secret: o.IsSecret(), Enum: o.Enum, Range: o.Range}
		if oi.Secret {
			oi.Default = ""
		}
		in.Options = append(in.Options, oi)
	}
	return in
}
