package webhook

import (
	"context"
	"database/sql"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strings"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/store"
)

// What people do with endpoints and deliveries (the REST API). Every call
// is bounded by the scope of the actor in ctx: a merchant's user sees and
// changes its own tenant's endpoints only; without an actor (the system)
// everything.

func scopeOf(ctx context.Context) wxfleet.Scope {
	if a, ok := wxfleet.ActorFrom(ctx); ok {
		return a.Scope()
	}
	return wxfleet.Scope{}
}

// CreateRequest asks for a new endpoint.
type CreateRequest struct {
	URL         string   `json:"url"`
	Events      []string `json:"events"`
	TenantID    int64    `json:"tenant_id"` // 0: every event of the platform; a merchant's user gets its own tenant
	Description string   `json:"description"`
}

// UpdateRequest changes what it names.
type UpdateRequest struct {
	URL         *string   `json:"url"`
	Events      *[]string `json:"events"`
	Disabled    *bool     `json:"disabled"`
	Description *string   `json:"description"`
}

// Create stores a new endpoint with a fresh secret, returned (once) in it.
func (s *Service) Create(ctx context.Context, componentAppID string, req CreateRequest) (*wxfleet.WebhookEndpoint, error) {
	sc := scopeOf(ctx)
	if !sc.All() {
		if req.TenantID != 0 && req.TenantID != sc.TenantID {
			return nil, wxfleet.Errorf(wxfleet.EFORBIDDEN, "只能为自己的租户创建 webhook / you can create webhooks of your own tenant only")
		}
		req.TenantID = sc.TenantID
	}
	if req.TenantID < 0 {
		return nil, wxfleet.Errorf(wxfleet.EINVALID, "tenant_id 无效 / invalid tenant_id")
	}
	u, err := s.CheckURL(req.URL)
	if err != nil {
		return nil, err
	}
	events, err := checkEvents(req.Events)
	if err != nil {
		return nil, err
	}
	if len(req.Description) > 500 {
		return nil, wxfleet.Errorf(wxfleet.EINVALID, "description 最长 500 字节 / description is at most 500 bytes")
	}
	now := s.Now()
	e := &wxfleet.WebhookEndpoint{ID: newID("wh_", now), ComponentAppID: componentAppID, TenantID: req.TenantID, URL: u,
		Events: events, Secret: wxfleet.Secret(newSecret()), Description: req.Description, CreatedAt: now, UpdatedAt: now}
	if err := s.Store.CreateWebhookEndpoint(ctx, sc, e); err != nil {
		return nil, err
	}
	s.changed()
	s.Logger.Info("webhook created", "endpoint", e.ID, "component_appid", componentAppID, "tenant_id", e.TenantID, "events", events)
	return e, nil
}

// Get returns one endpoint.
func (s *Service) Get(ctx context.Context, componentAppID, id string) (*wxfleet.WebhookEndpoint, error) {
	return s.Store.WebhookEndpoint(ctx, scopeOf(ctx), componentAppID, id)
}

// List returns a page of endpoints after cursor.
func (s *Service) List(ctx context.Context, componentAppID, cursor string, limit int) ([]*wxfleet.WebhookEndpoint, error) {
	return s.Store.ListWebhookEndpoints(ctx, scopeOf(ctx), componentAppID, cursor, limit)
}

// Update changes an endpoint's url, events, disabled flag or description.
func (s *Service) Update(ctx context.Context, componentAppID, id string, req UpdateRequest) (*wxfleet.WebhookEndpoint, error) {
	sc := scopeOf(ctx)
	e, err := s.Store.WebhookEndpoint(ctx, sc, componentAppID, id)
	if err != nil {
		return nil, err
	}
	if req.URL != nil {
		if e.URL, err = s.CheckURL(*req.URL); err != nil {
			return nil, err
		}
	}
	if req.Events != nil {
		if e.Events, err = checkEvents(*req.Events); err != nil {
			return nil, err
		}
	}
	if req.Disabled != nil {
		e.Disabled = *req.Disabled
	}
	if req.Description != nil {
		if len(*req.Description) > 500 {
			return nil, wxfleet.Errorf(wxfleet.EINVALID, "description 最长 500 字节 / description is at most 500 bytes")
		}
		e.Description = *req.Description
	}
	e.UpdatedAt = s.Now()
	if err := s.Store.UpdateWebhookEndpoint(ctx, sc, e); err != nil {
		return nil, err
	}
	s.changed()
	return e, nil
}

// RotateSecret gives an endpoint a new secret, returned once; deliveries
// signed from now on use it.
func (s *Service) RotateSecret(ctx context.Context, componentAppID, id string) (wxfleet.Secret, error) {
	sec := wxfleet.Secret(newSecret())
	if err := s.Store.SetWebhookSecret(ctx, scopeOf(ctx), componentAppID, id, sec, s.Now()); err != nil {
		return "", err
	}
	s.Logger.Info("webhook secret rotated", "endpoint", id, "component_appid", componentAppID)
	return sec, nil
}

// Delete removes an endpoint and its delivery log.
func (s *Service) Delete(ctx context.Context, componentAppID, id string) error {
	return s.Store.DeleteWebhookEndpoint(ctx, scopeOf(ctx), componentAppID, id)
}

// Deliveries returns a page of deliveries, newest first (f.EndpointID ""
// for every endpoint: with status dead, the dead-letter list).
func (s *Service) Deliveries(ctx context.Context, componentAppID string, f store.WebhookDeliveryFilter) ([]*wxfleet.WebhookDelivery, error) {
	sc := scopeOf(ctx)
	if f.Status != "" && !f.Status.Valid() {
		return nil, wxfleet.Errorf(wxfleet.EINVALID, "status 只能是 pending、delivered 或 dead / status must be pending, delivered or dead")
	}
	if f.EndpointID != "" {
		if _, err := s.Store.WebhookEndpoint(ctx, sc, componentAppID, f.EndpointID); err != nil {
			return nil, err
		}
	}
	return s.Store.ListWebhookDeliveries(ctx, sc, componentAppID, f)
}

// Delivery returns one delivery with its attempts and its event.
func (s *Service) Delivery(ctx context.Context, componentAppID, id string) (*wxfleet.WebhookDelivery, *wxfleet.WebhookEvent, error) {
	return s.Store.WebhookDelivery(ctx, scopeOf(ctx), componentAppID, id)
}

// Redeliver sends a delivered or dead delivery again, with the same
// delivery id, and a full series of attempts.
func (s *Service) Redeliver(ctx context.Context, componentAppID, id string) error {
	return s.Store.RedeliverWebhook(ctx, scopeOf(ctx), componentAppID, id, s.Now(), func(ctx context.Context, tx *sql.Tx) error {
		return s.Jobs().InsertTx(ctx, tx, DeliverArgs{DeliveryID: id}, s.insertOpts())
	})
}

// CheckURL validates an endpoint URL: http or https, a host, no user name
// or password (the secret signs; credentials in URLs end up in logs), no
// fragment; with RefusePrivate, no loopback, private or link-local address
// or localhost.
func (s *Service) CheckURL(raw string) (string, error) {
	bad := func(why string) error {
		return wxfleet.Errorf(wxfleet.EINVALID, "webhook URL 无效：%s", why)
	}
	if raw == "" || len(raw) > 2048 {
		return "", bad("须为 1 到 2048 个字符 / the url must be 1 to 2048 characters")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", bad("无法解析 / the url cannot be parsed")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", bad("只支持 http 和 https / only http and https urls are accepted")
	}
	if u.Host == "" || u.Hostname() == "" {
		return "", bad("缺少主机名 / the url has no host")
	}
	if u.User != nil {
		return "", bad("URL 中不能含用户名或密码 / the url must not carry a user name or password")
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return "", bad("URL 不能含 # 片段 / the url must not have a #fragment")
	}
	if s.RefusePrivate {
		host := strings.ToLower(u.Hostname())
		if host == "localhost" || strings.HasSuffix(host, ".localhost") {
			return "", bad("不接受 localhost / localhost is refused")
		}
		if ip := net.ParseIP(host); ip != nil && privateIP(ip) {
			return "", bad("不接受内网、回环或链路本地地址 / private, loopback and link-local addresses are refused")
		}
	}
	return u.String(), nil
}

// privateIP: loopback, private (RFC 1918, fc00::/7), link-local,
// unspecified, CGNAT (100.64/10) or multicast.
func privateIP(ip net.IP) bool {
	addr, ok := netip.AddrFromSlice(ip)
	if !ok {
		return true
	}
	addr = addr.Unmap()
	return addr.IsLoopback() || addr.IsPrivate() || addr.IsLinkLocalUnicast() || addr.IsLinkLocalMulticast() ||
		addr.IsUnspecified() || addr.IsMulticast() || netip.MustParsePrefix("100.64.0.0/10").Contains(addr)
}

// checkEvents validates a subscription list: known types or "*", at least one.
func checkEvents(events []string) ([]string, error) {
	if len(events) == 0 {
		return nil, wxfleet.Errorf(wxfleet.EINVALID, "events 不能为空（\"*\" 表示全部）/ events must not be empty (\"*\" means all): %s", strings.Join(Types, ", "))
	}
	out := make([]string, 0, len(events))
	for _, t := range events {
		if t != AllEvents && !knownType(t) {
			return nil, wxfleet.Errorf(wxfleet.EINVALID, "未知的事件类型 %q / unknown event type %q (known: %s)", t, t, strings.Join(Types, ", "))
		}
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out, nil
}
