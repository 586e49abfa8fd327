package tenant

import (
	"context"
	"encoding/json"

	"github.com/wxfleet/wxfleet"
)

// The runtime API's hooks (runtimeapi.Service's Gate and Settings): what a
// tenant's mini program may do, and the config it reads.

// RuntimeGate refuses the runtime calls of a mini program whose tenant is
// suspended — its subscription ran out past the grace period, or a person
// suspended it — with ESUBSCRIPTIONEXPIRED (HTTP 402, a message the mini
// program can show), and of a closed tenant's with EFORBIDDEN. An app with
// no tenant, or of a trial or active tenant, passes: a term that ended is
// still served during its grace period.
func (s *Service) RuntimeGate(ctx context.Context, componentAppID, appID string) error {
	a, err := s.Store.Authorizer(ctx, componentAppID, appID)
	if wxfleet.ErrorCode(err) == wxfleet.ENOTFOUND {
		return nil // the runtime API says what is wrong with an unknown app
	}
	if err != nil || a.TenantID == 0 {
		return err
	}
	t, err := s.Store.Tenant(ctx, wxfleet.Scope{}, a.TenantID)
	if err != nil {
		return err
	}
	switch t.Status {
	case wxfleet.TenantSuspended:
		return wxfleet.Errorf(wxfleet.ESUBSCRIPTIONEXPIRED, "服务已到期，请联系服务商续费 / this service's subscription has expired: ask the provider to renew it")
	case wxfleet.TenantClosed:
		return wxfleet.Errorf(wxfleet.EFORBIDDEN, "该商户已停止使用本服务 / this merchant no longer uses the service")
	}
	return nil
}

// RuntimeConfig is the config a tenant's mini program reads: the tenant's
// runtime settings, with the mini program's own settings (PUT
// /api/v1/authorizers/{appid}/settings) over them key by key. An app with no
// tenant reads its own settings only.
func (s *Service) RuntimeConfig(ctx context.Context, componentAppID, appID string) (map[string]any, error) {
	own, err := s.Store.AuthorizerSettings(ctx, componentAppID, appID)
	if err != nil {
		return nil, err
	}
	a, err := s.Store.Authorizer(ctx, componentAppID, appID)
	if err != nil || a.TenantID == 0 {
		return own, err
	}
	raw, err := s.Store.TenantSettings(ctx, wxfleet.Scope{}, a.TenantID)
	if err != nil {
		return nil, err
	}
	out := map[string]any{}
	if err := json.Unmarshal(raw, &out); err != nil || out == nil {
		out = map[string]any{}
	}
	for k, v := range own {
		out[k] = v
	}
	return out, nil
}
