package delivery

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"

	"github.com/datahub-oss/datahub/connector"
	"github.com/datahub-oss/datahub/internal/bus"
	"github.com/datahub-oss/datahub/internal/catalog"
	"github.com/datahub-oss/datahub/internal/redact"
)

// maxFileElement bounds one substituted value, well under the 255 bytes file systems allow
// in a name: a longer value is cut and a hash of the whole appended, so that two long
// message ids still name two files.
const maxFileElement = 160

// FilePath is the path, relative to the endpoint's folder, that a file delivery with path
// template tmpl ("" for catalog.DefaultFileDeliveryPath) writes message m to. Each token's
// value is made a safe file name: '/', '\' and control characters become '_', ".." becomes
// "__", a leading '.' becomes '_' (no hidden files, no clash with temporary files), and an
// empty value is "_". A message without an id uses <topic>-<seq>, as table deliveries do.
func FilePath(tmpl string, m bus.TopicMessage) string {
	if tmpl == "" {
		tmpl = catalog.DefaultFileDeliveryPath
	}
	id := m.MessageID
	if id == "" {
		id = fmt.Sprintf("%s-%d", m.Topic, m.Seq)
	}
	r := strings.NewReplacer(
		"{topic}", safeName(m.Topic),
		"{subject}", safeName(m.Subject),
		"{message_id}", safeName(id),
		"{seq}", strconv.FormatUint(m.Seq, 10),
		"{date}", m.Time.UTC().Format("2006-01-02"),
	)
	return r.Replace(tmpl)
}

// safeName makes v one file name element (see FilePath).
func safeName(v string) string {
	s := strings.Map(func(r rune) rune {
		if r == '/' || r == '\\' || unicode.IsControl(r) || r == unicode.ReplacementChar {
			return '_'
		}
		return r
	}, v)
	s = strings.ReplaceAll(s, "..", "__")
	if strings.HasPrefix(s, ".") {
		s = "_" + s[1:]
	}
	if len(s) > maxFileElement {
		sum := sha256.Sum256([]byte(v))
		cut := maxFileElement - 17
		for cut > 0 && !isRuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "-" + hex.EncodeToString(sum[:8])
	}
	if s == "" {
		return "_"
	}
	return s
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }

// deliverFile writes message m as one file, its bytes exactly, under the folder of the
// subscription's file endpoint: through an os.Root confined to the folder, to a temporary
// name, synced, then renamed into place. A redelivered message is renamed over the same path,
// so each message id has exactly one file; the handler returns (and the message is acked)
// only after the rename.
func (e *Engine) deliverFile(ctx context.Context, name string, s *catalog.SubscriptionSpec, m bus.TopicMessage) error {
	d := s.Delivery
	if e.Endpoints == nil {
		return fmt.Errorf("subscription %s: no endpoint resolver for file deliveries", name)
	}
	ep, secrets, err := e.Endpoints(ctx, d.Endpoint, d.Env, "")
	if err != nil {
		return fmt.Errorf("subscription %s: resolve endpoint %s: %s", name, d.Endpoint, redact.Scrub(err.Error(), secrets))
	}
	// The endpoint has passed the hub's policy (Endpoints resolves it through it); any
	// registered store opens it.
	st, closeStore, err := connector.OpenStore(ctx, ep)
	if err != nil {
		var ce *connector.Error
		if errors.As(err, &ce) && (ce.Code == connector.CodeUsage || ce.Code == connector.CodeUnsupported) {
			// Not a store, or not a folder: it would be refused again.
			return fmt.Errorf("subscription %s: endpoint %s is not a folder a file delivery can write to: %w: %w", name, d.Endpoint, err, bus.ErrPermanent)
		}
		return fmt.Errorf("subscription %s: open the folder of endpoint %s: %w", name, d.Endpoint, err)
	}
	defer func() { _ = closeStore() }()
	p := FilePath(d.Path, m)
	if _, err := st.Put(ctx, p, bytes.NewReader(m.Data)); err != nil {
		var ce *connector.Error
		if errors.As(err, &ce) && ce.Code == connector.CodeUsage {
			// The path is refused (it would leave the folder): it would be refused again.
			return fmt.Errorf("subscription %s: write %s: %w: %w", name, p, err, bus.ErrPermanent)
		}
		return fmt.Errorf("subscription %s: write %s: %w", name, p, err)
	}
	return nil
}
