package api

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/datahub-oss/datahub/internal/audit"
	"github.com/datahub-oss/datahub/internal/auth"
	"github.com/datahub-oss/datahub/internal/secret"
)

// secretBody describes a secret: its name and dates, never its value.
type secretBody struct {
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

type secretNameInput struct {
	Name string `path:"name" doc:"Secret name: a letter or digit, then letters, digits, '.', '_' or '-'"`
}

type putSecretRequest struct {
	Value string `json:"value" doc:"The value; stored encrypted, never returned"`
}

type putSecretInput struct {
	Name string `path:"name"`
	Body putSecretRequest
}

type putSecretBody struct {
	Name      string    `json:"name"`
	UpdatedAt time.Time `json:"updated_at"`
}

func (s *server) secretRoutes() {
	tags := []string{"secrets"}
	register(s, auth.PermSecretsRead, huma.Operation{
		OperationID: "list-secrets", Method: http.MethodGet, Path: BasePath + "/secrets", Tags: tags,
		Summary: "List secrets (names and dates only)",
	}, func(ctx context.Context, _ *struct{}) (*struct{ Body page[secretBody] }, error) {
		infos, err := s.d.Secrets.List(ctx)
		if err != nil {
			return nil, err
		}
		out := &struct{ Body page[secretBody] }{}
		out.Body.Items = make([]secretBody, 0, len(infos))
		for _, in := range infos {
			out.Body.Items = append(out.Body.Items, secretBody{Name: in.Name, CreatedAt: in.CreatedAt, UpdatedAt: in.UpdatedAt})
		}
		return out, nil
	})

	register(s, auth.PermSecretsWrite, huma.Operation{
		OperationID: "put-secret", Method: http.MethodPut, Path: BasePath + "/secrets/{name}", Tags: tags,
		Summary: "Create or replace a secret", MaxBodyBytes: 2 * secret.MaxValueSize,
	}, func(ctx context.Context, in *putSecretInput) (*struct{ Body putSecretBody }, error) {
		if err := secret.ValidName(in.Name); err != nil {
			return nil, apiError(http.StatusUnprocessableEntity, err.Error())
		}
		// The service's own messages for these name the size only; checking here keeps every
		// refusal a 422 rather than an internal error.
		switch n := len(in.Body.Value); {
		case n == 0:
			return nil, apiError(http.StatusUnprocessableEntity, "the secret's value is empty")
		case n > secret.MaxValueSize:
			return nil, apiError(http.StatusUnprocessableEntity, fmt.Sprintf("the secret's value is %d bytes, more than the %d allowed", n, secret.MaxValueSize))
		}
		before, err := s.findSecret(ctx, in.Name)
		if err != nil {
			return nil, err
		}
		p := principal(ctx)
		if err := s.d.Secrets.Put(ctx, in.Name, []byte(in.Body.Value), p.Name); err != nil {
			return nil, err
		}
		// No digest of the value is recorded: the audit log is readable by viewers, and a hash
		// of a short password can be brute-forced.
		if err := s.appendAudit(ctx, audit.Entry{Actor: p.Name, Action: "secret.put", TargetKind: "Secret", TargetName: in.Name,
			Details: detailsJSON(map[string]any{"created": before == nil})}); err != nil {
			return nil, err
		}
		after, err := s.findSecret(ctx, in.Name)
		if err != nil {
			return nil, err
		}
		out := &struct{ Body putSecretBody }{Body: putSecretBody{Name: in.Name}}
		if after != nil {
			out.Body.UpdatedAt = after.UpdatedAt
		}
		return out, nil
	})

	register(s, auth.PermSecretsWrite, huma.Operation{
		OperationID: "delete-secret", Method: http.MethodDelete, Path: BasePath + "/secrets/{name}", Tags: tags,
		Summary: "Delete a secret", DefaultStatus: http.StatusNoContent, Errors: []int{http.StatusNotFound},
	}, func(ctx context.Context, in *secretNameInput) (*struct{}, error) {
		if err := secret.ValidName(in.Name); err != nil {
			return nil, apiError(http.StatusUnprocessableEntity, err.Error())
		}
		p := principal(ctx)
		if err := s.d.Secrets.Delete(ctx, in.Name); err != nil {
			return nil, err
		}
		if err := s.appendAudit(ctx, audit.Entry{Actor: p.Name, Action: "secret.delete", TargetKind: "Secret", TargetName: in.Name}); err != nil {
			return nil, err
		}
		return &struct{}{}, nil
	})
}

// findSecret returns a secret's description, nil when there is none.
func (s *server) findSecret(ctx context.Context, name string) (*secret.Info, error) {
	infos, err := s.d.Secrets.List(ctx)
	if err != nil {
		return nil, err
	}
	for i := range infos {
		if infos[i].Name == name {
			return &infos[i], nil
		}
	}
	return nil, nil
}
