package web

import (
	"net/http"
	"strconv"
	"time"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/rollout"
)

// Template policies and fleet actions (issue 9): a template declares the
// domains and privacy guide its code needs; a fleet action applies it, or
// binds or unbinds a tester, on many mini programs, one durable job per app.

// putTemplatePolicy is PUT /api/v1/templates/{id}/policy with a
// wxfleet.TemplatePolicy ({"domains","webviewdomain","privacy"}; {} clears it).
func (s *Server) putTemplatePolicy(w http.ResponseWriter, r *http.Request) error {
	var p wxfleet.TemplatePolicy
	if err := decodeBody(r, &p); err != nil {
		return err
	}
	comp, id, err := s.platformAndID(r)
	if err != nil {
		return err
	}
	if err := s.Rollouts.SetTemplatePolicy(r.Context(), comp, id, &p); err != nil {
		return err
	}
	return s.getTemplate(w, r)
}

type fleetActionJSON struct {
	ID         int64                  `json:"id"`
	Kind       string                 `json:"kind"`
	TemplateID int64                  `json:"template_id,omitempty"`
	WeChatID   string                 `json:"wechatid,omitempty"`
	UserStr    string                 `json:"userstr,omitempty"`
	Targets    wxfleet.RolloutTargets `json:"targets"`
	Status     string                 `json:"status"`
	Counts     rollout.FleetCounts    `json:"counts"`
	CreatedAt  time.Time              `json:"created_at"`
	UpdatedAt  time.Time              `json:"updated_at"`
}

func toFleetActionJSON(st *rollout.FleetStatus) fleetActionJSON {
	a := st.FleetAction
	return fleetActionJSON{ID: a.ID, Kind: a.Kind, TemplateID: a.TemplateID, WeChatID: a.WeChatID, UserStr: a.UserStr,
		Targets: a.Targets, Status: a.Status, Counts: st.Counts, CreatedAt: a.CreatedAt, UpdatedAt: a.UpdatedAt}
}

// createFleetAction is POST /api/v1/fleet-actions {"kind":"setup"|"bind_tester"|"unbind_tester",
// "template_id"?, "wechatid"?, "userstr"?, "targets"} → 201 with the action.
func (s *Server) createFleetAction(w http.ResponseWriter, r *http.Request) error {
	var req rollout.FleetRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	comp, err := s.platform(r)
	if err != nil {
		return err
	}
	a, err := s.Rollouts.CreateFleetAction(r.Context(), comp, req)
	if err != nil {
		return err
	}
	st, err := s.Rollouts.GetFleetAction(r.Context(), comp, a.ID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, toFleetActionJSON(st))
	return nil
}

func (s *Server) listFleetActions(w http.ResponseWriter, r *http.Request) error {
	comp, err := s.platform(r)
	if err != nil {
		return err
	}
	n, err := limit(r, 50, 1000)
	if err != nil {
		return err
	}
	before, err := cursorParam(r)
	if err != nil {
		return err
	}
	as, err := s.Store.ListFleetActions(r.Context(), comp, before, n)
	if err != nil {
		return err
	}
	items := make([]fleetActionJSON, 0, len(as))
	for _, a := range as {
		st, err := s.Rollouts.GetFleetAction(r.Context(), comp, a.ID)
		if err != nil {
			return err
		}
		items = append(items, toFleetActionJSON(st))
	}
	next := ""
	if len(as) == n {
		next = strconv.FormatInt(as[len(as)-1].ID, 10)
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items, "next_cursor": next})
	return nil
}

func (s *Server) getFleetAction(w http.ResponseWriter, r *http.Request) error {
	comp, id, err := s.platformAndID(r)
	if err != nil {
		return err
	}
	st, err := s.Rollouts.GetFleetAction(r.Context(), comp, id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toFleetActionJSON(st))
	return nil
}

type fleetAppJSON struct {
	AppID       string    `json:"appid"`
	State       string    `json:"state"`
	Result      string    `json:"result,omitempty"`
	LastErrcode int       `json:"last_errcode,omitempty"`
	LastError   string    `json:"last_error,omitempty"`
	Attempts    int       `json:"attempts"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// listFleetActionApps is GET /api/v1/fleet-actions/{id}/apps?state=&cursor=&limit=.
func (s *Server) listFleetActionApps(w http.ResponseWriter, r *http.Request) error {
	comp, id, err := s.platformAndID(r)
	if err != nil {
		return err
	}
	if _, err := s.Store.FleetAction(r.Context(), comp, id); err != nil {
		return err
	}
	n, err := limit(r, 50, 1000)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	apps, err := s.Store.FleetActionApps(r.Context(), comp, id, q.Get("state"), q.Get("cursor"), n)
	if err != nil {
		return err
	}
	items := make([]fleetAppJSON, len(apps))
	for i, a := range apps {
		items[i] = fleetAppJSON{AppID: a.AppID, State: a.State, Result: a.Result, LastErrcode: a.LastErrcode,
			LastError: a.LastError, Attempts: a.Attempts, UpdatedAt: a.UpdatedAt}
	}
	next := ""
	if len(apps) == n {
		next = apps[len(apps)-1].AppID
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items, "next_cursor": next})
	return nil
}

// authorizerTesters is GET /api/v1/authorizers/{appid}/testers: the
// experience members' userstrs as WeChat lists them (memberauth).
func (s *Server) authorizerTesters(w http.ResponseWriter, r *http.Request) error {
	comp, err := s.platform(r)
	if err != nil {
		return err
	}
	appID := r.PathValue("appid")
	if _, err := s.Store.Authorizer(r.Context(), comp, appID); err != nil {
		return err
	}
	users, err := s.Rollouts.Testers(r.Context(), comp, appID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"appid": appID, "userstrs": nonNil(users)})
	return nil
}

// releaseHold is DELETE /api/v1/authorizers/{appid}/hold: WeChat's
// suspension of the app's submissions (86007) was resolved.
func (s *Server) releaseHold(w http.ResponseWriter, r *http.Request) error {
	comp, err := s.platform(r)
	if err != nil {
		return err
	}
	if err := s.Rollouts.ReleaseHold(r.Context(), comp, r.PathValue("appid")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
