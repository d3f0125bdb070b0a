package bus

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/datahub-oss/datahub/internal/errcode"
)

// readyTimeout bounds the embedded server's start (JetStream recovers its streams from disk
// before it accepts connections).
const readyTimeout = 30 * time.Second

// startEmbedded runs nats-server inside this process and connects to it in-process.
func (b *Bus) startEmbedded() error {
	if b.cfg.DataDir == "" {
		return errcode.Errorf(errcode.Config, "", "", errors.New("bus: the embedded NATS server needs a data folder"))
	}
	if b.cfg.CredsFile != "" {
		return errcode.Errorf(errcode.Config, "", "", errors.New("bus: a creds file is for an external NATS; the embedded server takes a user and password or a token"))
	}
	opts := &server.Options{
		ServerName: strings.ReplaceAll(b.cfg.Name, " ", "_"), // the server refuses spaces
		JetStream:  true,
		StoreDir:   b.cfg.DataDir,
		// sync_interval: always. Fsync every write before acknowledging it: Jepsen's analysis
		// of NATS JetStream showed that with the default sync interval (fsync every 2 minutes)
		// a crash or power loss of the machine can lose writes JetStream had already
		// acknowledged. A run request we acked to its caller must survive that, and the hub's
		// write rate is low enough to afford an fsync per message.
		SyncAlways: true,
		NoSigs:     true,
	}
	if b.cfg.Listen == "" {
		// No port at all: the only way in is an in-process connection.
		opts.DontListen = true
	} else {
		host, port, err := net.SplitHostPort(b.cfg.Listen)
		if err != nil {
			return errcode.Errorf(errcode.Config, b.cfg.Listen, "use host:port", fmt.Errorf("bus listen address: %w", err))
		}
		p, err := strconv.Atoi(port)
		if err != nil || p < 0 || p > 65535 {
			return errcode.Errorf(errcode.Config, b.cfg.Listen, "use host:port", errors.New("bus listen address: bad port"))
		}
		if p == 0 {
			p = server.RANDOM_PORT
		}
		opts.Host, opts.Port = host, p
		opts.Username, opts.Password, opts.Authorization = b.cfg.User, b.cfg.Password, b.cfg.Token
		if b.cfg.User == "" && b.cfg.Token == "" {
			b.log.Warn("embedded NATS listens without authentication", "listen", b.cfg.Listen)
		}
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return errcode.Errorf(errcode.Config, "", "", fmt.Errorf("bus: configure embedded NATS: %w", err))
	}
	srv.SetLoggerV2(&serverLog{log: b.log.With("nats", "server")}, false, false, false)
	srv.Start()
	if !srv.ReadyForConnections(readyTimeout) {
		srv.Shutdown()
		srv.WaitForShutdown()
		return errcode.Errorf(errcode.Unavailable, b.cfg.DataDir, "see the log for the server's reason", errors.New("bus: embedded NATS did not start"))
	}
	b.srv = srv
	b.where = "embedded NATS"
	nc, err := nats.Connect("", append(b.connOptions(), nats.InProcessServer(srv), nats.NoReconnect())...)
	if err != nil {
		srv.Shutdown()
		srv.WaitForShutdown()
		b.srv = nil
		return fmt.Errorf("bus: connect to embedded NATS: %w", err)
	}
	b.nc = nc
	b.log.Info("embedded NATS started", "store", b.cfg.DataDir, "listen", b.ClientURL())
	return nil
}

// serverLog sends the embedded server's log to slog, notices at Debug: the server is chatty at
// start and the hub logs what matters itself.
type serverLog struct{ log *slog.Logger }

func (l *serverLog) Noticef(format string, v ...any) { l.log.Debug(fmt.Sprintf(format, v...)) }
func (l *serverLog) Warnf(format string, v ...any)   { l.log.Warn(fmt.Sprintf(format, v...)) }
func (l *serverLog) Fatalf(format string, v ...any)  { l.log.Error(fmt.Sprintf(format, v...)) }
func (l *serverLog) Errorf(format string, v ...any)  { l.log.Error(fmt.Sprintf(format, v...)) }
func (l *serverLog) Debugf(format string, v ...any)  { l.log.Debug(fmt.Sprintf(format, v...)) }
func (l *serverLog) Tracef(format string, v ...any)  { l.log.Debug(fmt.Sprintf(format, v...)) }

var _ server.Logger = (*serverLog)(nil)
