package membership

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"time"

	"github.com/sluicehq/sluice/internal/logonce"
)

// logWriter turns memberlist's log lines, which start with a level in
// brackets ("[WARN] memberlist: ..."), into slog records at that level.
// Complaints about what a peer sent ("... from=1.2.3.4:5678") are logged
// once per peer a minute: a peer without the cluster's key, or a scanner,
// sends many packets, each of which memberlist reports.
type logWriter struct {
	l       *slog.Logger
	limiter *logonce.Limiter // nil: no limit
}

func newLogWriter(l *slog.Logger) logWriter {
	return logWriter{l: l, limiter: logonce.New(time.Minute)}
}

// authFailures are the parts of memberlist's messages about a peer that
// does not hold the cluster's gossip key.
var authFailures = [][]byte{
	[]byte("ecrypt"), // "Decrypt packet failed", "No installed keys could decrypt"
	[]byte("remote state is not encrypted"),
	[]byte("encryption is not configured"),
}

func (w logWriter) Write(p []byte) (int, error) {
	line := bytes.TrimSpace(p)
	level := slog.LevelInfo
	if rest, ok := bytes.CutPrefix(line, []byte("[")); ok {
		if tag, msg, ok := bytes.Cut(rest, []byte("] ")); ok {
			line = msg
			switch string(tag) {
			case "DEBUG":
				level = slog.LevelDebug
			case "WARN":
				level = slog.LevelWarn
			case "ERR", "ERROR":
				level = slog.LevelError
			}
		}
	}
	// memberlist's goroutines outlive Shutdown by a moment and complain
	// about the sockets it closed; that is shutdown, not an error.
	if bytes.Contains(line, []byte("use of closed network connection")) {
		level = slog.LevelDebug
	}
	if _, from, ok := bytes.Cut(line, []byte(" from=")); ok && level >= slog.LevelWarn && w.limiter != nil {
		host := string(from)
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		auth := false
		for _, a := range authFailures {
			auth = auth || bytes.Contains(line, a)
		}
		if !w.limiter.Allow(host) {
			return len(p), nil
		}
		if auth {
			w.l.Warn("gossip: refused a peer without the cluster secret (not logged again for a minute)", "remote", host, "detail", string(line))
			return len(p), nil
		}
		w.l.Log(context.Background(), level, string(line)+" (further complaints about this peer are not logged for a minute)")
		return len(p), nil
	}
	w.l.Log(context.Background(), level, string(line))
	return len(p), nil
}
