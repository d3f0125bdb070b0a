package client

import (
	"context"
	"net/http"
)

// Ready asks the server whether it takes requests (GET /readyz, which needs no token): nil
// once its store and bus answer, an *APIError (503) while they do not, a *ConnError while
// nothing answers at all.
func (c *Client) Ready(ctx context.Context) error {
	return c.do(ctx, request{method: http.MethodGet, path: "/readyz", root: true}, nil, nil)
}
