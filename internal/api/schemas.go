package api

import (
	"errors"
	"fmt"
	"net/http"
	"sync"

	"github.com/datahub-oss/datahub/internal/catalog"
	"github.com/datahub-oss/datahub/internal/schema"
)

// schemaCache keeps the compiled schema of each Topic, keyed by the Topic's digest so that
// a re-applied Topic is compiled again once and an unchanged one never is.
type schemaCache struct {
	mu      sync.Mutex
	schemas map[string]cachedSchema // by topic name
}

type cachedSchema struct {
	digest string
	schema *schema.Schema
}

// get returns the compiled schema of the Topic entry e (nil when it has none).
func (c *schemaCache) get(e catalog.Entry) (*schema.Schema, error) {
	t := e.Resource.Topic()
	if t == nil || len(t.Schema) == 0 {
		return nil, nil
	}
	name := e.Resource.Metadata.Name
	c.mu.Lock()
	cs, ok := c.schemas[name]
	c.mu.Unlock()
	if ok && cs.digest == e.Digest {
		return cs.schema, nil
	}
	// Compiling outside the lock: two publishers may both compile a new version, which is
	// harmless, and nobody waits behind a slow compile of another topic.
	s, err := schema.Compile(t.Schema)
	if err != nil {
		return nil, fmt.Errorf("compiling the schema of topic %q: %w", name, err)
	}
	c.mu.Lock()
	if c.schemas == nil {
		c.schemas = map[string]cachedSchema{}
	}
	c.schemas[name] = cachedSchema{digest: e.Digest, schema: s}
	c.mu.Unlock()
	return s, nil
}

// checkMessage answers 422 when Topic e has a schema and data is not JSON or does not match
// it: the message names the topic and lists where and why (at most schema.MaxProblems).
func (s *server) checkMessage(e catalog.Entry, data []byte) error {
	sch, err := s.schemas.get(e)
	if err != nil || sch == nil {
		return err
	}
	err = sch.Validate(data)
	var se *schema.Error
	switch {
	case err == nil:
		return nil
	case !errors.As(err, &se):
		return err
	case se.NotJSON:
		return apiError(http.StatusUnprocessableEntity, fmt.Sprintf("topic %s takes JSON messages matching its schema", e.Resource.Metadata.Name))
	}
	// Like the resources' validation errors: a short message, each problem in the details.
	ae := apiError(http.StatusUnprocessableEntity, fmt.Sprintf("the message does not match the schema of topic %s", e.Resource.Metadata.Name))
	fes := make([]FieldError, 0, len(se.Problems))
	for _, p := range se.Problems {
		loc := p.Location
		if loc == "" {
			loc = "/"
		}
		fes = append(fes, FieldError{Field: loc, Message: p.Reason})
	}
	ae.Details = &Details{Errors: fes}
	return ae
}
