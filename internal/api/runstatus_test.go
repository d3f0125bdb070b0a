package api

import (
	"net/http"
	"slices"
	"testing"

	"github.com/datahub-oss/datahub/internal/auth"
	"github.com/datahub-oss/datahub/internal/runstatus"
)

// TestRunStatusEnum: the list-runs status filter offers exactly runstatus.All(), in its order,
// and refuses any other status.
func TestRunStatusEnum(t *testing.T) {
	t.Parallel()
	h := newHub(t, false)
	r := h.must(http.StatusOK, h.do(http.MethodGet, BasePath+"/openapi.json", "", nil), "openapi.json")
	var doc struct {
		Paths map[string]map[string]struct {
			Parameters []struct {
				Name   string `json:"name"`
				Schema struct {
					Enum []string `json:"enum"`
				} `json:"schema"`
			} `json:"parameters"`
		} `json:"paths"`
	}
	r.json(t, &doc)
	var enum []string
	for _, p := range doc.Paths[BasePath+"/runs"]["get"].Parameters {
		if p.Name == "status" {
			enum = p.Schema.Enum
		}
	}
	if !slices.Equal(enum, runstatus.Strings()) {
		t.Errorf("list-runs status enum %v, want %v", enum, runstatus.Strings())
	}
	viewer := h.tokens[auth.RoleViewer]
	h.must(http.StatusOK, h.do(http.MethodGet, BasePath+"/runs?status="+string(runstatus.CancelRequested), viewer, nil), "runs by status")
	h.must(http.StatusUnprocessableEntity, h.do(http.MethodGet, BasePath+"/runs?status=done", viewer, nil), "runs by an unknown status")
}
