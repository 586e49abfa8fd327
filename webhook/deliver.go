package webhook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/riverqueue/river"

	"github.com/wxfleet/wxfleet"
)

// Queue is the River queue deliveries run on: a slow receiver must not hold
// up token upkeep or rollouts.
const Queue = "webhook"

// DeliverArgs is one delivery (of one event to one endpoint).
type DeliverArgs struct {
	DeliveryID string `json:"delivery_id"`
}

// Kind implements river.JobArgs.
func (DeliverArgs) Kind() string { return "webhook_delivery" }

// insertOpts: no uniqueness is asked of River. A delivery gets its first
// job in the transaction that creates it, and another only by a
// redelivery, which moves it from delivered or dead back to pending (one
// transaction, once): its earlier job has finished, even if River has not
// yet recorded that (a unique insert would then be skipped).
//
// River gets one attempt more than MaxAttempts: the last delivery attempt
// dead-letters the delivery and returns nil, and the spare one is there if
// recording that failed (else the job would be discarded with its delivery
// still pending).
func (s *Service) insertOpts() *river.InsertOpts {
	return &river.InsertOpts{Queue: Queue, MaxAttempts: s.maxAttempts() + 1}
}

// responseCap is how much of a receiver's answer is read: its status is
// what counts; the start of its body goes into the attempt's error.
const responseCap = 64 << 10

// Worker works DeliverArgs: one POST per attempt. A 2xx answer delivers;
// anything else is retried with exponential backoff until the last attempt,
// which dead-letters the delivery.
type Worker struct {
	river.WorkerDefaults[DeliverArgs]
	Service *Service
}

// Timeout bounds one attempt: the request's own timeout and time to record it.
func (w *Worker) Timeout(*river.Job[DeliverArgs]) time.Duration {
	return w.Service.timeout() + 15*time.Second
}

// NextRetry backs off from RetryBase, doubling up to RetryMax. The delay
// is ours; the instant is on River's clock (the real one), which schedules
// the job: a time River finds in its past makes it fall back to its own
// policy.
func (w *Worker) NextRetry(job *river.Job[DeliverArgs]) time.Time {
	return time.Now().Add(w.Service.retryDelay(job.Attempt))
}

// Work makes one attempt.
func (w *Worker) Work(ctx context.Context, job *river.Job[DeliverArgs]) error {
	s := w.Service
	d, e, ev, err := s.Store.WebhookDeliveryWork(ctx, job.Args.DeliveryID)
	if wxfleet.ErrorCode(err) == wxfleet.ENOTFOUND {
		return river.JobCancel(err) // the endpoint was deleted
	}
	if err != nil {
		return err
	}
	if d.Status != wxfleet.DeliveryPending {
		return nil // done already: a job run twice
	}
	last := job.Attempt >= job.MaxAttempts-1 // see insertOpts
	if e.Disabled {
		// Kept for a redelivery once the endpoint is enabled again.
		_, err := s.Store.RecordWebhookAttempt(ctx, d.ID, wxfleet.WebhookAttempt{
			Error: "webhook 已停用 / the endpoint is disabled", At: s.Now()}, wxfleet.DeliveryDead)
		return ignoreGone(err)
	}
	a := s.post(ctx, e, d, ev)
	status := wxfleet.DeliveryPending
	switch {
	case a.Error == "":
		status = wxfleet.DeliveryDelivered
	case last:
		status = wxfleet.DeliveryDead
	}
	n, err := s.Store.RecordWebhookAttempt(ctx, d.ID, a, status)
	if err != nil {
		return ignoreGone(err)
	}
	switch status {
	case wxfleet.DeliveryDelivered:
		return nil
	case wxfleet.DeliveryDead:
		s.Logger.Warn("webhook delivery dead-lettered after its last attempt", "delivery", d.ID, "endpoint", e.ID,
			"event", ev.Type, "attempts", n, "status_code", a.StatusCode, "err", a.Error)
		return nil
	}
	s.Logger.Info("webhook delivery failed; will retry", "delivery", d.ID, "endpoint", e.ID, "event", ev.Type,
		"attempt", n, "status_code", a.StatusCode, "err", a.Error)
	return errors.New("webhook delivery: " + a.Error)
}

func ignoreGone(err error) error {
	if wxfleet.ErrorCode(err) == wxfleet.ENOTFOUND {
		return nil
	}
	return err
}

// post sends the event and describes what came back. Neither the secret
// nor the URL (whose query may hold the receiver's own token) goes into the
// attempt's error or the log.
func (s *Service) post(ctx context.Context, e *wxfleet.WebhookEndpoint, d *wxfleet.WebhookDelivery, ev *wxfleet.WebhookEvent) wxfleet.WebhookAttempt {
	start := s.Now()
	a := wxfleet.WebhookAttempt{At: start}
	ctx, cancel := context.WithTimeout(ctx, s.timeout())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.URL, bytes.NewReader(ev.Payload))
	if err != nil {
		a.Error = "无效的 URL / invalid URL"
		return a
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "wxfleet-webhook/1")
	req.Header.Set(HeaderDelivery, d.ID)
	req.Header.Set(HeaderEvent, ev.Type)
	req.Header.Set(HeaderSignature, Sign(e.Secret.Reveal(), start, ev.Payload))
	resp, err := s.httpClient().Do(req)
	a.Duration = s.Now().Sub(start)
	if err != nil {
		a.Error = transportError(err)
		return a
	}
	defer resp.Body.Close()
	head, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
	io.Copy(io.Discard, io.LimitReader(resp.Body, responseCap))
	a.Duration = s.Now().Sub(start)
	a.StatusCode = resp.StatusCode
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		a.Error = "HTTP " + strconv.Itoa(resp.StatusCode)
		if resp.StatusCode >= 300 && resp.StatusCode < 400 {
			a.Error += " (重定向不跟随 / redirects are not followed)"
		}
		if text := printable(head); text != "" {
			a.Error += ": " + text
		}
	}
	return a
}

// transportError says why no answer came, without the URL.
func transportError(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if errors.Is(err, errPrivate) {
		return errPrivate.Error()
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "超时 / timed out"
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "超时 / timed out"
	}
	msg := err.Error()
	if len(msg) > 300 {
		msg = msg[:300]
	}
	return msg
}

// printable is the start of a response body fit for the attempt log.
func printable(b []byte) string {
	for len(b) > 0 && !utf8.Valid(b) {
		b = b[:len(b)-1]
	}
	out := make([]rune, 0, len(b))
	for _, r := range string(b) {
		if r < 0x20 && r != ' ' {
			r = ' '
		}
		out = append(out, r)
	}
	return string(out)
}

var errPrivate = errors.New("拒绝连接内网地址 / private, loopback and link-local addresses are refused (WXFLEET_WEBHOOK_PRIVATE_ADDRESSES)")

// httpClient follows no redirects (a 3xx is a failed attempt: the receiver
// must give its final URL), uses no proxy, and with RefusePrivate checks
// the address of every connection it makes.
func (s *Service) httpClient() *http.Client {
	s.clientOnce.Do(s.buildClient)
	return s.client
}

func (s *Service) buildClient() {
	dialer := &net.Dialer{Timeout: s.timeout()}
	if s.RefusePrivate {
		dialer.Control = func(network, address string, _ syscall.RawConn) error {
			host, _, err := net.SplitHostPort(address)
			if err != nil {
				return err
			}
			if ip := net.ParseIP(host); ip == nil || privateIP(ip) {
				return fmt.Errorf("%w: %s", errPrivate, host)
			}
			return nil
		}
	}
	s.client = &http.Client{
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Transport: &http.Transport{
			DialContext:           dialer.DialContext,
			TLSHandshakeTimeout:   s.timeout(),
			ResponseHeaderTimeout: s.timeout(),
			MaxIdleConnsPerHost:   4,
			IdleConnTimeout:       90 * time.Second,
			ForceAttemptHTTP2:     true,
		},
	}
}
