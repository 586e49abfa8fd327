package web

import (
	"net/http"

	"github.com/wxfleet/wxfleet"
)

// The capability routes of one mini program (customer service, subscribe
// messages, cards, Wi-Fi) serve the ISV's staff and, for a few of them,
// the merchant whose tenant the mini program is on. The store bounds the
// reads of a conversation or a card by the caller's Scope, but the calls to
// WeChat (a reply, a send, a coupon made, a shop list) take no scope: so
// every such handler first resolves the path's app here, and a merchant
// asking for another tenant's app — or for one that does not exist — gets
// the same 404, naming nothing (docs/tenants.md, the merchant portal).

// errNoApp is the merchant's answer for an app outside its tenant: the
// same whether the app is another tenant's or none at all.
var errNoApp = wxfleet.Errorf(wxfleet.ENOTFOUND, "没有这个小程序 / no such mini program")

// inScope checks that a (or the lookup's error err) is inside sc: the
// ISV's staff see every app (and the store's own not-found); a merchant
// only its tenant's.
func inScope(sc wxfleet.Scope, a *wxfleet.Authorizer, err error) error {
	if sc.All() {
		return err
	}
	if wxfleet.ErrorCode(err) == wxfleet.ENOTFOUND || (err == nil && !sc.Allows(a.TenantID)) {
		return errNoApp
	}
	return err
}

// scopedApp is the request's platform and path's {appid} for an API
// handler, checked against the caller's scope: for staff nothing is looked
// up (the service answers for an unknown app as it always did), a
// merchant's app must be on its tenant.
func (s *Server) scopedApp(r *http.Request) (comp, appID string, err error) {
	comp, err = s.platform(r)
	if err != nil {
		return "", "", err
	}
	appID = r.PathValue("appid")
	if sc := scopeOf(r); !sc.All() {
		a, err := s.Store.Authorizer(r.Context(), comp, appID)
		if err := inScope(sc, a, err); err != nil {
			return "", "", err
		}
	}
	return comp, appID, nil
}

// appsHome is where a capability page's error sends the caller back: the
// authorizers list for staff, the home page (their tenant's) for a merchant.
func appsHome(r *http.Request) string {
	if scopeOf(r).All() {
		return "/authorizers"
	}
	return "/"
}

// appHome is where an app's capability page's error sends the caller back:
// the app's page for staff, the home page (their tenant's) for a merchant,
// who may not open the staff's authorizer page.
func appHome(r *http.Request, comp, appID string) string {
	if scopeOf(r).All() {
		return appBack(comp, appID, "")
	}
	return "/"
}
