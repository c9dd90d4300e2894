package membership

import (
	"bytes"
	"context"
	"log/slog"
)

// logWriter turns memberlist's log lines, which start with a level in
// brackets ("[WARN] memberlist: ..."), into slog records at that level.
type logWriter struct{ l *slog.Logger }

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
	w.l.Log(context.Background(), level, string(line))
	return len(p), nil
}
