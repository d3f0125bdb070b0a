package api

import (
	"bytes"
	"encoding/json"
	"flag"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/datahub-oss/datahub/connector"
	"github.com/datahub-oss/datahub/internal/auth"
)

var updateGolden = flag.Bool("update", false, "rewrite the golden files")

// TestConnectorRoutes: a viewer reads the connectors' typed declarations and the JSON Schema
// of an endpoint's options; the schema is the one `datahub connectors` and apply follow.
func TestConnectorRoutes(t *testing.T) {
	t.Parallel()
	h := newHub(t, false)
	viewer := h.tokens[auth.RoleViewer]

	var list struct {
		Items []connector.Info `json:"items"`
	}
	h.must(http.StatusOK, h.do(http.MethodGet, BasePath+"/connectors", viewer, nil), "list connectors").json(t, &list)
	var file *connector.Info
	for i := range list.Items {
		if list.Items[i].Name == "file" {
			file = &list.Items[i]
		}
	}
	if file == nil || !file.Store || !file.Read || !file.Write {
		t.Fatalf("the file connector is missing or lacks a direction: %+v", file)
	}
	types := map[string]connector.OptionType{}
	for _, o := range file.Options {
		types[o.Name] = o.Type
	}
	if types["delimiter"] != connector.OptChar || types["header"] != connector.OptBool || types["format"] != connector.OptEnum {
		t.Fatalf("option types: %v", types)
	}

	r := h.must(http.StatusOK, h.do(http.MethodGet, BasePath+"/connectors/file/schema", viewer, nil), "file schema")
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/schema+json") {
		t.Errorf("Content-Type %q", ct)
	}
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, r.body, "", "  "); err != nil {
		t.Fatal(err)
	}
	pretty.WriteByte('\n')
	golden := filepath.Join("testdata", "file-options.schema.json")
	if *updateGolden {
		if err := os.WriteFile(golden, pretty.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(want, pretty.Bytes()) {
		t.Errorf("the schema differs from %s (go test -run TestConnectorRoutes -update):\n%s", golden, pretty.String())
	}

	r = h.must(http.StatusNotFound, h.do(http.MethodGet, BasePath+"/connectors/ftp/schema", viewer, nil), "unknown connector")
	if !strings.Contains(r.String(), `no connector \"ftp\"`) {
		t.Errorf("404 body: %s", r)
	}
	h.must(http.StatusUnauthorized, h.do(http.MethodGet, BasePath+"/connectors", "", nil), "anonymous list")
}
