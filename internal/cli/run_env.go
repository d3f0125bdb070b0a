package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/datahub-oss/datahub/internal/catalog"
	"github.com/datahub-oss/datahub/internal/client"
)

// onlyEnvironment is the environment of a run requested without --env: the integration's one
// environment, said on standard error, or a usage error listing them when it has several.
func onlyEnvironment(cmd *cobra.Command, g *globals, c *client.Client, integration string) (string, error) {
	envs, err := runEnvironments(cmd, c, integration)
	var ae *client.APIError
	switch {
	case client.IsNotFound(err):
		return "", failure(err)
	case errors.As(err, &ae):
		// Allowed to run it but not to read it (or the server would not say): ask for --env.
		return "", usageError("run needs --env: DEV, SIT, UAT, MPE or PROD (the environments of %s could not be read: %v)", safe(integration), err)
	case err != nil:
		return "", failure(err)
	}
	switch len(envs) {
	case 1:
		_, _ = fmt.Fprintf(g.stderr, "running %s in %s, its only environment\n", safe(integration), envs[0])
		return envs[0], nil
	case 0:
		return "", usageError("run needs --env: DEV, SIT, UAT, MPE or PROD")
	}
	return "", usageError("run needs --env: %s runs in %s", safe(integration), strings.Join(envs, ", "))
}

// runEnvironments are where an integration may run, as the catalog checks them: its
// spec.environments, or else every environment both its endpoints have a URL in.
func runEnvironments(cmd *cobra.Command, c *client.Client, integration string) ([]string, error) {
	ctx := cmd.Context()
	res, err := c.GetResource(ctx, string(catalog.KindIntegration), integration)
	if err != nil {
		return nil, err
	}
	var spec catalog.IntegrationSpec
	if err := json.Unmarshal(res.Spec, &spec); err != nil {
		return nil, fmt.Errorf("read integration %s: %w", integration, err)
	}
	if len(spec.Environments) > 0 {
		return spec.Environments, nil
	}
	envs := slices.Clone(catalog.Environments)
	for _, name := range []string{spec.Source.Endpoint, spec.Destination.Endpoint} {
		ep, err := c.GetResource(ctx, string(catalog.KindEndpoint), name)
		if err != nil {
			return nil, fmt.Errorf("read endpoint %s of integration %s: %w", name, integration, err)
		}
		var es catalog.EndpointSpec
		if err := json.Unmarshal(ep.Spec, &es); err != nil {
			return nil, fmt.Errorf("read endpoint %s of integration %s: %w", name, integration, err)
		}
		envs = slices.DeleteFunc(envs, func(e string) bool { _, ok := es.Environments[e]; return !ok })
	}
	return envs, nil
}

// printQueued reports a run queued without --wait: its id alone on standard output, for
// RUN=$(datahub run ...), and how to follow it on standard error; not a summary of zeros.
func printQueued(g *globals, run client.Run) error {
	if _, err := fmt.Fprintln(g.stdout, run.ID); err != nil {
		return err
	}
	_, err := fmt.Fprintf(g.stderr, "run %s %s\nFollow it with: datahub runs show %s (or request it with --wait to wait for its end)\n",
		run.ID, strings.ReplaceAll(string(run.Status), "_", " "), run.ID)
	return err
}
