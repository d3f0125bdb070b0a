package delivery_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/datahub-oss/datahub/internal/bus"
	"github.com/datahub-oss/datahub/internal/delivery"
)

func TestTableRow(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		name     string
		m        bus.TopicMessage
		id       string
		bodyJSON bool
	}{
		{"json", bus.TopicMessage{Topic: "orders", Subject: "created", Seq: 7, Time: at, MessageID: "m-1", Data: []byte(`{"a":1}`),
			Headers: map[string]string{"Region": "eu", bus.HeaderMessageID: "m-1"}}, "m-1", true},
		{"text", bus.TopicMessage{Topic: "orders", Subject: "created", Seq: 8, Time: at, Data: []byte("not json")}, "orders-8", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			row := delivery.TableRow(tc.m)
			if len(row) != len(delivery.TableSchema.Columns) {
				t.Fatalf("%d values for %d columns", len(row), len(delivery.TableSchema.Columns))
			}
			if row[0] != tc.id || row[1] != "orders" || row[2] != "created" || !row[3].(time.Time).Equal(at) {
				t.Errorf("row %v", row[:4])
			}
			if _, ok := row[6].(json.RawMessage); ok != tc.bodyJSON {
				t.Errorf("body_json %v", row[6])
			}
			if tc.bodyJSON && string(row[4].(json.RawMessage)) != `{"Region":"eu"}` {
				t.Errorf("headers %s", row[4])
			}
		})
	}
}
