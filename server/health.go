package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/ingest"
	"github.com/wxfleet/wxfleet/store"
)

// minFreeDisk is the free space below which the instance says it is not
// ready: the ingest journal starts 16 MiB segments, and SQLite needs room
// for its write-ahead log; a full disk turns every push into a 500.
const minFreeDisk = 64 << 20

// ready is /readyz's own part, past the database's answer: the ingest
// journal can take pushes and, on SQLite, the disk has room.
func (s *Server) ready(ctx context.Context) error {
	if err := s.ingest.Health(); err != nil {
		if errors.Is(err, ingest.ErrFull) {
			return wxfleet.WrapError(wxfleet.EUNAVAILABLE, "事件日志积压已满，推送须等待数据库 / ingest journal backlog at its cap: pushes wait for the database", err)
		}
		return wxfleet.WrapError(wxfleet.EUNAVAILABLE, "事件日志写入失败，需要重启 / ingest journal write failed: restart to recover", err)
	}
	if s.Store.Dialect() != store.DialectSQLite {
		return nil
	}
	dir := filepath.Dir(s.Store.Path())
	free, err := s.diskFree(dir)
	if err != nil {
		return nil // unknown on this system: not a reason to stop traffic
	}
	if free < minFreeDisk {
		return wxfleet.Errorf(wxfleet.EUNAVAILABLE, "磁盘空间不足：%s 仅剩 %d MiB / disk full: %d MiB free in %s (need %d MiB)",
			dir, free>>20, free>>20, dir, minFreeDisk>>20)
	}
	return nil
}

// serveMetrics serves /metrics on its own address when one is configured.
func (s *Server) serveMetrics(lim HTTPLimits) error {
	if s.cfg.MetricsAddr == "" {
		return nil
	}
	ln, err := net.Listen("tcp", s.cfg.MetricsAddr)
	if err != nil {
		return fmt.Errorf("metrics: listening on %s: %w", s.cfg.MetricsAddr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", s.Metrics.Handler())
	s.metrics = &http.Server{Handler: mux, ReadHeaderTimeout: lim.ReadHeaderTimeout, ReadTimeout: lim.ReadTimeout,
		WriteTimeout: lim.WriteTimeout, IdleTimeout: lim.IdleTimeout, MaxHeaderBytes: lim.MaxHeaderBytes}
	s.metricsAddr = ln.Addr().String()
	s.logger.Info("metrics served on their own address", "addr", s.metricsAddr)
	go func() {
		if err := s.metrics.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.logger.Error("metrics server stopped", "err", err)
		}
	}()
	return nil
}

// MetricsURL is where /metrics is served when MetricsAddr is set (after Start), else "".
func (s *Server) MetricsURL() string {
	if s.metricsAddr == "" {
		return ""
	}
	return "http://" + s.metricsAddr + "/metrics"
}
