package mysql

import (
	"context"
	"net"
	"net/url"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"

	"github.com/datahub-oss/datahub/connector"
)

func TestConnectErrors(t *testing.T) {
	admin(t)
	base, _ := url.Parse(serverURL())
	exec(t, "CREATE USER IF NOT EXISTS 'dh_test_user'@'%' IDENTIFIED BY 'right-Passw0rd'")
	exec(t, "CREATE USER IF NOT EXISTS 'dh_test_user'@'localhost' IDENTIFIED BY 'right-Passw0rd'")
	t.Cleanup(func() {
		admin(t).Exec("DROP USER IF EXISTS 'dh_test_user'@'%'")
		admin(t).Exec("DROP USER IF EXISTS 'dh_test_user'@'localhost'")
	})
	// A port nobody listens on.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()

	cases := []struct {
		name, url string
		code      connector.Code
		mention   string
	}{
		{"bad password", "mysql://dh_test_user:wrong-Secret9@" + base.Host + "/" + testDBName + "?table=t", connector.CodeAuth, "check the user and password"},
		{"unknown database", "mysql://root@" + base.Host + "/dh_no_such_db?table=t", connector.CodeNotFound, "dh_no_such_db"},
		{"refused", "mysql://root:wrong-Secret9@" + closed + "/db?table=t", connector.CodeUnreachable, closed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, dir := range []string{"source", "sink"} {
				e := connector.Endpoint{URL: tc.url}
				var err error
				if dir == "source" {
					s := newSource(t, e)
					err = s.Open(context.Background(), nil)
					s.Close(context.Background())
				} else {
					s := newSink(t, e)
					_, err = s.Open(context.Background(), peopleSchema(), connector.SinkOptions{})
					s.Close(context.Background())
				}
				if connector.CodeOf(err) != tc.code {
					t.Errorf("%s: code %s, want %s: %v", dir, connector.CodeOf(err), tc.code, err)
				}
				msg := err.Error()
				if !strings.Contains(msg, tc.mention) {
					t.Errorf("%s: %q does not mention %q", dir, msg, tc.mention)
				}
				if strings.Contains(msg, "wrong-Secret9") {
					t.Errorf("%s: error shows the password: %s", dir, msg)
				}
				if !strings.Contains(msg, connector.Redact(tc.url)) {
					t.Errorf("%s: error does not name the endpoint: %s", dir, msg)
				}
			}
		})
	}
}

func TestErrorCodes(t *testing.T) {
	c, _ := parseEndpoint(connector.Endpoint{URL: "mysql://u:pw-secret@h/db?table=t"})
	cases := map[uint16]connector.Code{
		erAccessDenied: connector.CodeAuth, erBadDB: connector.CodeNotFound, erNoSuchTable: connector.CodeNotFound,
		erDeadlock: connector.CodeTransient, erLockWait: connector.CodeTransient, erDupEntry: connector.CodeData,
		1406: connector.CodeData, 4025: connector.CodeData, 1142: connector.CodePermission, erPacketTooLarge: connector.CodeTooLarge,
		9999: connector.CodeInternal,
	}
	for n, want := range cases {
		err := c.wrap(context.Background(), &mysql.MySQLError{Number: n, Message: "m"}, "write to table x")
		if got := connector.CodeOf(err); got != want {
			t.Errorf("error %d: code %s, want %s", n, got, want)
		}
		if strings.Contains(err.Error(), "pw-secret") || !strings.Contains(err.Error(), "write to table x") {
			t.Errorf("error %d: %v", n, err)
		}
	}
	if !connector.Retryable(c.wrap(context.Background(), &mysql.MySQLError{Number: erDeadlock}, "x")) {
		t.Error("deadlock is not retryable")
	}
	if err := c.wrap(context.Background(), mysql.ErrInvalidConn, "x"); connector.CodeOf(err) != connector.CodeUnreachable {
		t.Errorf("lost connection: %v", err)
	}
}

func TestParseEndpoint(t *testing.T) {
	cases := []struct {
		url, db, table, addr, user string
		bad                        bool
	}{
		{url: "mysql://u:p@h:3307/shop?table=orders", db: "shop", table: "orders", addr: "h:3307", user: "u"},
		{url: "mariadb://h/?table=shop.orders", db: "shop", table: "orders", addr: "h:3306", user: "root"},
		{url: "mysql://h/x?table=`my.db`.`or``ders`", db: "my.db", table: "or`ders", addr: "h:3306", user: "root"},
		{url: "mysql://[::1]:3306/d?table=t", db: "d", table: "t", addr: "[::1]:3306", user: "root"},
		{url: "mysql://u:p%40ss@h/d?table=t&tls=skip-verify", db: "d", table: "t", addr: "h:3306", user: "u"},
		{url: "mysql://h/?table=t", bad: true},
		{url: "mysql://h/d?table=a.b.c", bad: true},
		{url: "mysql://h/d?table=t&tls=maybe", bad: true},
		{url: "mysql://h/d?table=t&query=SELECT+1", bad: true},
	}
	for _, tc := range cases {
		c, err := parseEndpoint(connector.Endpoint{URL: tc.url})
		if tc.bad {
			if err == nil || connector.CodeOf(err) != connector.CodeUsage {
				t.Errorf("%s: want a usage error, got %v", tc.url, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.url, err)
			continue
		}
		if c.table.db != tc.db || c.table.name != tc.table || c.drv.Addr != tc.addr || c.drv.User != tc.user {
			t.Errorf("%s: got %+v addr %s user %s", tc.url, c.table, c.drv.Addr, c.drv.User)
		}
	}
	c, _ := parseEndpoint(connector.Endpoint{URL: "mysql://u:p%40ss@h/d?table=t&tls=skip-verify"})
	if c.drv.Passwd != "p@ss" || c.drv.TLSConfig != "skip-verify" || c.drv.ParseTime || c.drv.AllowAllFiles ||
		c.drv.InterpolateParams || !strings.Contains(c.drv.Params["sql_mode"], "STRICT_ALL_TABLES") || c.drv.Params["time_zone"] != "'+00:00'" {
		t.Errorf("driver config: %+v", c.drv)
	}
	// The driver's own boolean spellings of tls still work.
	for in, want := range map[string]string{"1": "true", "0": "", "true": "true", "preferred": "preferred"} {
		c, err := parseEndpoint(connector.Endpoint{URL: "mysql://h/d?table=t&tls=" + in})
		if err != nil || c.drv.TLSConfig != want {
			t.Errorf("tls=%s: TLSConfig %q, %v; want %q", in, c.drv.TLSConfig, err, want)
		}
	}
}
