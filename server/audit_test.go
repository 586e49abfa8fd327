package server

import (
	"context"
	"encoding/json"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/store"
	"github.com/wxfleet/wxfleet/store/storetest"
)

// Creating a rollout through the API writes rollout.create to the audit
// log, naming who, the rollout and what it ships; pausing it writes
// rollout.pause; a dry run writes nothing. The whole server, on both databases.
func TestRolloutCreateAudited(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		srv := boot(t, b)
		ctx := context.Background()
		now := time.Now()
		if err := srv.Store.SyncTemplates(ctx, testAppID, []wxfleet.Template{{ComponentAppID: testAppID, TemplateID: 7, UserVersion: "1.2.0",
			UserDesc: "d", ExtJSON: `{"extAppid":"${appid}"}`, CreateTime: now}}, now); err != nil {
			t.Fatal(err)
		}
		for _, app := range []string{"wxaudit1", "wxaudit2"} {
			if err := srv.Store.UpsertAuthorizer(ctx, &wxfleet.Authorizer{ComponentAppID: testAppID, AppID: app, Status: wxfleet.StatusAuthorized,
				RefreshToken: "r", AuthorizedAt: now}); err != nil {
				t.Fatal(err)
			}
		}
		post := func(path, body string) (int, string) {
			t.Helper()
			resp := do(t, "POST", srv.URL()+path, strings.NewReader(body), "Authorization", "Bearer "+testAdmin, "Content-Type", "application/json")
			b, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, string(b)
		}
		if st, body := post("/api/v1/rollouts", `{"template_id":7,"targets":{"appids":["wxaudit1","wxaudit2"]},"dry_run":true}`); st != 200 {
			t.Fatalf("dry run: %d %s", st, body)
		}
		st, body := post("/api/v1/rollouts", `{"template_id":7,"targets":{"appids":["wxaudit1","wxaudit2"]},"batch_size":1}`)
		if st != 201 {
			t.Fatalf("create: %d %s", st, body)
		}
		var ro struct {
			ID int64 `json:"id"`
		}
		json.Unmarshal([]byte(body), &ro)
		if st, body := post("/api/v1/rollouts/"+strconv.FormatInt(ro.ID, 10)+"/pause", `{}`); st != 200 {
			t.Fatalf("pause: %d %s", st, body)
		}
		l, err := srv.Store.ListAudit(ctx, wxfleet.Scope{}, store.AuditFilter{Action: "rollout."})
		if err != nil {
			t.Fatal(err)
		}
		if len(l) != 2 || l[0].Action != "rollout.pause" || l[1].Action != "rollout.create" {
			t.Fatalf("rollout entries: %+v", l)
		}
		c := l[1]
		var detail struct {
			TemplateID  int64  `json:"template_id"`
			UserVersion string `json:"user_version"`
			Targets     struct {
				AppIDs []string `json:"appids"`
			} `json:"targets"`
		}
		if err := json.Unmarshal([]byte(c.Detail), &detail); err != nil {
			t.Fatal(err)
		}
		if c.ActorName != "admin token" || c.Via != "admin_token" || c.Target != strconv.FormatInt(ro.ID, 10) || c.ComponentAppID != testAppID ||
			detail.TemplateID != 7 || detail.UserVersion != "1.2.0" || len(detail.Targets.AppIDs) != 2 || c.At.IsZero() {
			t.Fatalf("rollout.create entry: %+v", c)
		}
		// Readable through the API, filtered.
		resp := do(t, "GET", srv.URL()+"/api/v1/audit-log?action=rollout.create", nil, "Authorization", "Bearer "+testAdmin)
		b2, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || !strings.Contains(string(b2), `"action":"rollout.create"`) || strings.Contains(string(b2), "rollout.pause") {
			t.Fatalf("GET audit-log: %d %s", resp.StatusCode, b2)
		}
	})
}
