package sandbox

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wxfleet/wxfleet/wxcrypt"
)

// Component is a third-party platform (第三方平台, "component") registered on
// the emulated WeChat.
type Component struct {
	AppID  string // component_appid
	Secret string // component_appsecret
	Token  string // 消息校验Token: signs pushes
	AESKey string // 消息加解密Key (EncodingAESKey, 43 characters): encrypts pushes
	Name   string // the platform's name, shown on authorization pages
	// PlatformURL is the base URL of the platform that receives this
	// component's pushes; "" means Config.PlatformURL.
	PlatformURL string
	// AuthDomain is the platform's 授权发起页域名 (authorization domain), as
	// registered with WeChat: the authorization pages refuse a redirect_uri on
	// any other host, and a link followed from a page on another host. ""
	// means the host of the platform URL (none when it is 0.0.0.0 or ::);
	// "*" turns the check off.
	AuthDomain string
}

// Config configures a Sandbox.
type Config struct {
	// DataDir holds the state database sandbox.db and its key sandbox.key;
	// it is created if missing and the state survives restarts. A
	// sandbox.json of an earlier version is imported on first start.
	DataDir string
	// PublicURL is the sandbox's own base URL as browsers and the platform
	// reach it, used for links such as head_img. "" means the Host of each
	// request.
	PublicURL string
	// PlatformURL is where pushes go: POST {PlatformURL}/wechat/component (the
	// authorization event URL, 授权事件接收URL) and POST
	// {PlatformURL}/wechat/apps/{appid} (the message and event URL,
	// 消息与事件接收URL, with $APPID$ replaced).
	PlatformURL string
	// Components are the third-party platforms registered on this "WeChat".
	Components []Component
	// TicketInterval is the component_verify_ticket push period; 0 means 10 minutes.
	TicketInterval time.Duration
	// HTTPClient sends pushes; nil means a client with a 5 s timeout, the time
	// WeChat gives a platform to answer.
	HTTPClient *http.Client
	// Logger receives push outcomes and state errors; nil means slog.Default().
	Logger *slog.Logger
	// Now is the wall clock; nil means time.Now. The sandbox clock, which
	// every expiry check uses, is Now() plus an offset moved by the clock API.
	Now func() time.Time
}

// Sandbox emulates WeChat's side of a third-party platform: the component and
// authorizer token APIs, the authorization pages, the pushes, customer-service
// messages and the 全网发布 release check. Create it with New, serve Handler,
// run Run in the background and Close it when done.
type Sandbox struct {
	cfg      Config
	box      *sealer  // seals every stored value (seal.go)
	db       *stateDB // persist.go
	log      *slog.Logger
	client   *http.Client
	comps    []*component // configuration order; the first is the default
	byID     map[string]*component
	tmpl     *template.Template
	mux      *http.ServeMux
	offset   atomic.Int64 // sandbox clock offset in nanoseconds (mirrored into state on save)
	interval time.Duration

	// Test seams: tests in this package shorten them.
	retryBackoff time.Duration // first retry delay of a push; doubles per retry
	replyTimeout time.Duration // release check: how long a reply may take (WeChat: 5 s)
	apiWait      time.Duration // release check: how long to wait for message/custom/send (WeChat: 5 s)
	pickTestApp  func() string // release check: which test account to use

	code  *codeState // code management, with its own lock and database (code.go); set by New
	caps  *capState  // customer service and subscribe messages, likewise (caps.go); set by New
	cards *cardState // cards and Wi-Fi, with their own lock and database (cards.go); set by New
	payS  *payState  // WeChat Pay, with its own lock and file (pay.go)

	mu          sync.Mutex // guards everything below
	st          *state
	platformURL string
	calls       map[callKey]int    // calls.go
	appCalls    map[appCallKey]int // calls.go
	inFlight    map[string]int     // calls.go: calls being served, by path
	apiPaths    map[string]bool    // the WeChat APIs the sandbox emulates (set by routes)
	faults      []*fault
	nextFault   int
	pushes      []*pushRecord
	nextPush    int
	waiters     map[*sendWaiter]struct{}
	closed      bool

	dirty      map[ref]struct{} // changed since the last write (persist.go)
	flushed    chan struct{}    // closed and replaced after each write attempt
	dirtyGen   atomic.Uint64    // counts changes; written under mu
	flushedGen atomic.Uint64    // the dirtyGen the last write attempt covered
	imported   bool             // sandbox.json was imported: rename it once written

	saveMu   sync.Mutex // serialises state writes
	wake     chan struct{}
	saveDone chan struct{}
	bg       context.Context // background pushes; cancelled by Close
	stop     context.CancelFunc
	wg       sync.WaitGroup
}

// component is a configured component with its crypto.
type component struct {
	Component
	crypt *wxcrypt.Crypter
}

// New validates cfg, loads (or seeds) the state in cfg.DataDir and returns a
// ready Sandbox. It starts one goroutine that writes state changes to disk;
// Close stops it.
func New(cfg Config) (*Sandbox, error) {
	if cfg.DataDir == "" {
		return nil, errors.New("sandbox: Config.DataDir is required")
	}
	if len(cfg.Components) == 0 {
		return nil, errors.New("sandbox: at least one component is required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 5 * time.Second}
	}
	cfg.PublicURL = strings.TrimRight(cfg.PublicURL, "/")
	s := &Sandbox{
		cfg:          cfg,
		log:          cfg.Logger.With("subsystem", "sandbox"),
		client:       cfg.HTTPClient,
		byID:         map[string]*component{},
		interval:     cfg.TicketInterval,
		retryBackoff: 250 * time.Millisecond,
		replyTimeout: 5 * time.Second,
		apiWait:      5 * time.Second,
		pickTestApp:  randomTestApp,
		platformURL:  strings.TrimRight(cfg.PlatformURL, "/"),
		calls:        map[callKey]int{},
		appCalls:     map[appCallKey]int{},
		inFlight:     map[string]int{},
		waiters:      map[*sendWaiter]struct{}{},
		dirty:        map[ref]struct{}{},
		flushed:      make(chan struct{}),
		wake:         make(chan struct{}, 1),
		saveDone:     make(chan struct{}),
		payS:         &payState{wakeCh: make(chan struct{}, 1)},
	}
	if s.interval <= 0 {
		s.interval = 10 * time.Minute
	}
	for _, c := range cfg.Components {
		if c.AppID == "" || c.Secret == "" {
			return nil, fmt.Errorf("sandbox: component %q needs an AppID and a Secret", c.AppID)
		}
		if s.byID[c.AppID] != nil {
			return nil, fmt.Errorf("sandbox: component %s is configured twice", c.AppID)
		}
		crypt, err := wxcrypt.New(c.Token, c.AESKey, c.AppID)
		if err != nil {
			return nil, fmt.Errorf("sandbox: component %s: %w", c.AppID, err)
		}
		if c.Name == "" {
			c.Name = c.AppID
		}
		c.PlatformURL = strings.TrimRight(c.PlatformURL, "/")
		comp := &component{Component: c, crypt: crypt}
		s.comps = append(s.comps, comp)
		s.byID[c.AppID] = comp
	}
	tmpl, err := parseTemplates()
	if err != nil {
		return nil, err
	}
	s.tmpl = tmpl
	if err := s.openState(); err != nil {
		return nil, err
	}
	s.mux = s.routes()
	s.bg, s.stop = context.WithCancel(context.Background())
	if err := s.startCode(); err != nil {
		s.stop()
		return nil, err
	}
	if err := s.startCaps(); err != nil {
		s.stop()
		s.closeCode()
		return nil, err
	}
	if err := s.startCards(); err != nil {
		s.stop()
		s.closeCode()
		s.closeCaps()
		return nil, err
	}
	go s.saver()
	s.wg.Go(func() { s.payNotifier(s.bg) })
	return s, nil
}

// openState opens (or seeds, or imports) the state in Config.DataDir and
// writes what loading changed, before anything is served.
func (s *Sandbox) openState() error {
	dir := s.cfg.DataDir
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("sandbox: %w", err)
	}
	key, err := stateKey(dir)
	if err != nil {
		return err
	}
	if s.box, err = newSealer(key); err != nil {
		return err
	}
	if s.db, err = openStateDB(filepath.Join(dir, dbFile), s.box); err != nil {
		return err
	}
	st, refs, imported, err := loadState(dir, s.db, s.box)
	if err != nil {
		s.db.close()
		return err
	}
	s.imported, s.st = imported, st
	s.mu.Lock()
	for _, c := range s.comps {
		st.ensureComponent(c.AppID)
		refs = append(refs, ref{kind: kComponent, a: c.AppID})
	}
	s.touch(refs...)
	s.mu.Unlock()
	s.offset.Store(int64(st.ClockOffset))
	if err := s.flush(); err != nil {
		s.db.close()
		return fmt.Errorf("sandbox: writing the state: %w", err)
	}
	return nil
}

// Handler serves everything: the emulated WeChat APIs, the authorization
// pages, the sandbox's own pages and its control API.
func (s *Sandbox) Handler() http.Handler { return s.mux }

// Run pushes a component_verify_ticket to every component at once and then
// every TicketInterval, until ctx is done or the sandbox is closed. It returns
// nil on a normal stop.
func (s *Sandbox) Run(ctx context.Context) error {
	ticker := time.NewTicker(s.interval)
	defer ticker.Stop()
	for {
		s.pushTicketsToAll(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-s.bg.Done():
			return nil
		case <-ticker.C:
		}
	}
}

// pushTicketsToAll pushes one ticket to each component in parallel, so that a
// platform that is down does not delay the others.
func (s *Sandbox) pushTicketsToAll(ctx context.Context) {
	var wg sync.WaitGroup
	for _, c := range s.comps {
		wg.Go(func() { s.pushTicket(ctx, c) })
	}
	wg.Wait()
}

// SetPlatformURL changes Config.PlatformURL, for tests that learn the
// platform's address only after the sandbox exists.
func (s *Sandbox) SetPlatformURL(url string) {
	s.mu.Lock()
	s.platformURL = strings.TrimRight(url, "/")
	s.mu.Unlock()
}

// Close waits for background pushes (cancelling their retries), stops the
// state writer and writes the state one last time.
func (s *Sandbox) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	s.stop()
	s.wg.Wait()
	<-s.saveDone
	err := errors.Join(s.flush(), s.closeCode(), s.closeCaps(), s.closeCards())
	if cerr := s.db.close(); err == nil {
		err = cerr
	}
	return err
}

// goBackground runs f on a tracked goroutine with the background context, or
// not at all once the sandbox is closing.
func (s *Sandbox) goBackground(f func(ctx context.Context)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.wg.Go(func() { f(s.bg) })
}

// now is the sandbox clock: wall clock plus the offset the clock API moved.
// Every expiry decision uses it.
func (s *Sandbox) now() time.Time {
	return s.cfg.Now().Add(time.Duration(s.offset.Load())).UTC().Round(0)
}

// wall is the wall clock. Pushes are stamped with it because the platform
// compares push timestamps with its own clock.
func (s *Sandbox) wall() time.Time { return s.cfg.Now() }

// platformBase returns the base URL pushes for c go to.
func (s *Sandbox) platformBase(c *component) string {
	if c.PlatformURL != "" {
		return c.PlatformURL
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.platformURL
}

// AuthDomain returns the 授权发起页域名 the authorization pages check for
// the component, "" when they accept any domain (or there is no such component).
func (s *Sandbox) AuthDomain(componentAppID string) string {
	c := s.byID[componentAppID]
	if c == nil {
		return ""
	}
	return s.authDomain(c)
}

// authDomain returns c's 授权发起页域名, "" when there is none to check.
func (s *Sandbox) authDomain(c *component) string {
	switch c.AuthDomain {
	case "*":
		return ""
	case "":
		u, err := url.Parse(s.platformBase(c))
		if err != nil {
			return ""
		}
		// A platform listening on every interface (0.0.0.0, ::) names no
		// domain: browsers reach it by whatever address they know.
		if ip := net.ParseIP(u.Hostname()); ip != nil && ip.IsUnspecified() {
			return ""
		}
		return u.Hostname()
	}
	return c.AuthDomain
}

// publicURL returns the sandbox's base URL for links, falling back to the
// request's host when Config.PublicURL is empty.
func (s *Sandbox) publicURL(r *http.Request) string {
	if s.cfg.PublicURL != "" || r == nil {
		return s.cfg.PublicURL
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// defaultComponent returns the component a control call means when it names none.
func (s *Sandbox) defaultComponent() *component { return s.comps[0] }

// componentFor resolves an optional component appid from a control call.
func (s *Sandbox) componentFor(appid string) (*component, error) {
	if appid == "" {
		return s.defaultComponent(), nil
	}
	if c := s.byID[appid]; c != nil {
		return c, nil
	}
	return nil, fmt.Errorf("unknown component_appid %q", appid)
}
