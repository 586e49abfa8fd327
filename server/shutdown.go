package server

import (
	"context"
	"errors"
	"time"
)

// defaultShutdownTimeout bounds Close. Orchestrators wait 30 s (compose's
// stop_grace_period in deploy/, TimeoutStopSec=40s in the systemd unit)
// before they kill; docker's own default is 10 s, hence `docker stop -t 30`.
const defaultShutdownTimeout = 25 * time.Second

// Close shuts the platform down in the order that loses nothing, within
// Config.ShutdownTimeout:
//
//  0. drain: /readyz answers 503 {"status":"draining"} at once, so load
//     balancers stop sending; for Config.ShutdownDrain everything else is
//     still served (what a balancer sends meanwhile is answered);
//  1. stop taking requests: the listener closes, so WeChat's next push finds
//     no one and is retried (to another instance, or after the restart);
//     requests under way finish, so every push acknowledged is durable;
//  2. flush the ingest journal: every acknowledged push moves into the
//     database (what a deadline leaves is replayed at the next start);
//  3. stop the jobs: River fetches no more; running ones may finish until
//     the soft deadline, then their contexts are cancelled, and River
//     records them to be retried, here after a restart or at once on
//     another instance. A job's leases are released as it returns (while
//     the store is still open), so no one waits for them to expire;
//  4. close the database.
//
// Each step logs what it did, so an operator sees where a slow stop spent
// its time. Calling Close again does nothing and returns the first result.
func (s *Server) Close() error {
	s.closed.Do(func() { s.closeErr = s.shutdown() })
	return s.closeErr
}

func (s *Server) shutdown() error {
	timeout := s.cfg.ShutdownTimeout
	if timeout <= 0 {
		timeout = defaultShutdownTimeout
	}
	start := time.Now()
	hard, cancelHard := context.WithTimeout(context.Background(), timeout)
	defer cancelHard()
	// The last fifth is kept for cancelling jobs and closing.
	soft, cancelSoft := context.WithTimeout(hard, timeout*4/5)
	defer cancelSoft()
	s.draining.Store(true)
	if drain := min(s.cfg.ShutdownDrain, timeout/2); drain > 0 && s.http != nil {
		s.logger.Info("shutdown: draining: /readyz answers 503 so load balancers stop sending; still serving", "for", drain)
		time.Sleep(drain)
	}
	if s.stopBG != nil {
		s.stopBG()
	}
	if s.metrics != nil {
		s.metrics.Close()
	}
	s.stopHTTP(soft)
	backlog := s.ingest.Backlog()
	if err := s.ingest.Close(soft); err != nil {
		s.logger.Warn("shutdown: the ingest journal is not fully applied; the next start replays the rest", "err", err)
	} else if backlog > 0 {
		s.logger.Info("shutdown: ingest journal flushed into the database", "pushes", backlog)
	}
	s.bg.Wait()
	if s.http != nil { // the queue started with the server
		s.stopJobs(soft, hard)
	}
	err := s.Store.Close()
	s.logger.Info("shutdown complete", "took", time.Since(start).Round(time.Millisecond))
	return err
}

// stopHTTP closes the listener and waits for the requests under way; those
// still running at the deadline are cut off (their contexts end, so what
// they hold is released while the store is open).
func (s *Server) stopHTTP(ctx context.Context) {
	if s.http == nil {
		if s.listener != nil {
			s.listener.Close()
		}
		return
	}
	if err := s.http.Shutdown(ctx); err != nil {
		s.logger.Warn("shutdown: requests still running at the deadline were cut off", "err", err)
		s.http.Close()
		return
	}
	s.logger.Info("shutdown: no longer taking requests; those under way finished")
}

// stopJobs lets running jobs finish until soft ends, then cancels them and
// waits for them to return until hard ends.
func (s *Server) stopJobs(soft, hard context.Context) {
	err := s.queue.Stop(soft)
	if err == nil {
		s.logger.Info("shutdown: job workers stopped; running jobs finished")
		return
	}
	if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
		s.logger.Warn("shutdown: stopping the job queue", "err", err)
	}
	if err := s.queue.StopAndCancel(hard); err != nil {
		s.logger.Warn("shutdown: jobs still running after cancellation; River takes them back after their timeout", "err", err)
		return
	}
	s.logger.Info("shutdown: running jobs cancelled and handed back to River for a retry")
}
