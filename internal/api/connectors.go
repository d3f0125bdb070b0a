package api

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/danielgtaylor/huma/v2"

	"github.com/datahub-oss/datahub/connector"
	"github.com/datahub-oss/datahub/internal/auth"
)

type connectorsOutput struct {
	Body struct {
		Items []connector.Info `json:"items"`
	}
}

type connectorSchemaOutput struct {
	ContentType string `header:"Content-Type"`
	Body        map[string]any
}

// connectorRoutes serves the connectors' declarations: the same ones that drive `datahub
// connectors` and the validation of Endpoint resources. Reading them needs resources.read,
// like the resources they describe; secret options show no value, only that they are secret.
func (s *server) connectorRoutes() {
	tags := []string{"connectors"}
	register(s, auth.PermResourcesRead, huma.Operation{
		OperationID: "list-connectors", Method: http.MethodGet, Path: BasePath + "/connectors", Tags: tags,
		Summary: "The connectors with their URL schemes, directions and typed options",
	}, func(context.Context, *struct{}) (*connectorsOutput, error) {
		out := &connectorsOutput{}
		out.Body.Items = []connector.Info{}
		for _, sp := range connector.Specs() {
			out.Body.Items = append(out.Body.Items, sp.Info())
		}
		return out, nil
	})

	register(s, auth.PermResourcesRead, huma.Operation{
		OperationID: "connector-schema", Method: http.MethodGet, Path: BasePath + "/connectors/{name}/schema", Tags: tags,
		Summary:     "JSON Schema of the options of an Endpoint of this connector",
		Description: "Describes spec.options and an environment's options. Secret options are listed under x-datahub-secrets: they are set through the Endpoint's secrets: references, never inline.",
		Errors:      []int{http.StatusNotFound},
	}, func(_ context.Context, in *struct {
		Name string `path:"name" maxLength:"64"`
	}) (*connectorSchemaOutput, error) {
		sp, ok := connector.Lookup(in.Name)
		if !ok {
			var names []string
			for _, c := range connector.Specs() {
				names = append(names, c.Name)
			}
			return nil, apiError(http.StatusNotFound, fmt.Sprintf("no connector %q (known: %s)", in.Name, strings.Join(names, ", ")))
		}
		return &connectorSchemaOutput{ContentType: "application/schema+json", Body: sp.OptionsSchema()}, nil
	})
}
