package sandbox

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"
)

// exchanger is the platform's side of a bulk authorization: it refuses every
// push about the first app it hears of, refuses some others once, and
// exchanges the code of every authorized push with api_query_auth.
type exchanger struct {
	mu        sync.Mutex
	attempts  map[string]int
	refused   string
	exchanged map[string]string // appid → the exchange's authorizer_appid, or its error
	stop      chan struct{}
	drained   chan struct{}
}

func startExchanger(e *testEnv, tok string) *exchanger {
	x := &exchanger{attempts: map[string]int{}, exchanged: map[string]string{},
		stop: make(chan struct{}), drained: make(chan struct{})}
	e.plat.setComponentHandler(func(in inbound) (int, string) {
		x.mu.Lock()
		defer x.mu.Unlock()
		appid := in.Fields["AuthorizerAppid"]
		x.attempts[appid]++
		if x.refused == "" {
			x.refused = appid
		}
		if appid == x.refused || x.attempts[appid] == 1 && len(x.attempts)%5 == 0 {
			return http.StatusInternalServerError, "busy"
		}
		return http.StatusOK, "success"
	})
	go func() {
		defer close(x.drained)
		for {
			select {
			case in := <-e.plat.component:
				if in.Fields["InfoType"] != "authorized" {
					continue
				}
				appid := in.Fields["AuthorizerAppid"]
				got := exchange(e.srv.URL, tok, in.Fields["AuthorizationCode"])
				x.mu.Lock()
				if _, seen := x.exchanged[appid]; !seen || got == appid {
					x.exchanged[appid] = got
				}
				x.mu.Unlock()
			case <-x.stop:
				return
			}
		}
	}()
	return x
}

// finish waits (with a deadline) until n apps were exchanged, then stops.
func (x *exchanger) finish(n int) {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		x.mu.Lock()
		done := 0
		for id, got := range x.exchanged {
			if got == id {
				done++
			}
		}
		x.mu.Unlock()
		if done >= n {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	close(x.stop)
	<-x.drained
}

// The bulk path authorizes through the real pushes: the platform hears one
// authorized push per app and exchanges each code with api_query_auth; a push
// the platform refuses once is retried, one it always refuses is counted.
func TestBulkAuthorizesThroughPushes(t *testing.T) {
	e := newEnv(t)
	tok := e.componentToken()
	x := startExchanger(e, tok)
	const n = 300
	status, out := e.do(http.MethodPost, "/sandbox/api/apps/bulk", map[string]any{"count": n, "authorize": true})
	if status != http.StatusOK {
		t.Fatalf("bulk: HTTP %d %v", status, out)
	}
	x.finish(n - 1) // the platform may still be working through pushes it acknowledged
	refused := x.refused
	if num(out, "created") != n || num(out, "authorized") != n-1 || num(out, "push_failures") != 1 {
		t.Errorf("bulk answer: created %v, authorized %v, push_failures %v", out["created"], out["authorized"], out["push_failures"])
	}
	appids, _ := out["appids"].([]any)
	unique := map[string]bool{}
	for _, v := range appids {
		id, _ := v.(string)
		if !looksLikeAppID(id) {
			t.Errorf("bulk appid %q is not wx + 16 hex digits", id)
		}
		unique[id] = true
	}
	if len(unique) != n {
		t.Fatalf("bulk answered %d distinct appids, want %d", len(unique), n)
	}
	for id := range unique {
		if got, ok := x.exchanged[id]; id != refused && (!ok || got != id) {
			t.Errorf("app %s: exchange %q, want its own appid", id, got)
		}
	}

	// Every app is a mini program with a name and is authorized, the one the
	// platform never acknowledged too (WeChat's side does not undo it).
	for _, id := range []string{refused, appids[0].(string), appids[n-1].(string)} {
		_, app := e.do(http.MethodGet, "/sandbox/api/apps/"+id, nil)
		if app["authorized"] != true || app["is_mini_program"] != true || str(app, "nickname") == "" {
			t.Errorf("bulk app %s = %v", id, app)
		}
		info := e.wx("/cgi-bin/component/api_get_authorizer_info?component_access_token="+tok,
			map[string]string{"component_appid": testComponent, "authorizer_appid": id})
		if _, ok := info["authorizer_info"].(map[string]any)["MiniProgramInfo"]; !ok {
			t.Errorf("bulk app %s has no MiniProgramInfo: %v", id, info)
		}
	}
	// Pages do not offer the fleet; the listing and a restart keep it.
	_, page := getPage(t, e.srv.URL+authURL(pathLoginPage, e.preAuthCode(tok), nil)[len("https://mp.weixin.qq.com"):])
	if got := radioValues(page); len(got) > len(seedAccounts()) {
		t.Errorf("the authorization page offers %d accounts", len(got))
	}
	e.restart()
	_, list := e.do(http.MethodGet, "/sandbox/api/apps", nil)
	if items := list["items"].([]any); len(items) != n+len(seedAccounts())-2 {
		t.Errorf("after restart the listing has %d accounts, want %d", len(items), n+len(seedAccounts())-2)
	}
	// WeChat's own listing pages through the fleet, oldest grant first.
	seen := map[string]bool{}
	for offset := 0; offset < n; offset += 120 {
		out := e.wx("/cgi-bin/component/api_get_authorizer_list?component_access_token="+e.componentToken(),
			map[string]any{"component_appid": testComponent, "offset": offset, "count": 120})
		if num(out, "total_count") != n {
			t.Fatalf("api_get_authorizer_list total_count = %v, want %d", out["total_count"], n)
		}
		for _, it := range out["list"].([]any) {
			seen[str(it.(map[string]any), "authorizer_appid")] = true
		}
	}
	if len(seen) != n {
		t.Errorf("paging api_get_authorizer_list saw %d distinct authorizers, want %d", len(seen), n)
	}
}

// exchange calls api_query_auth as a platform would and returns the
// authorizer_appid, or the errcode as text.
func exchange(base, tok, code string) string {
	body, _ := json.Marshal(map[string]string{"component_appid": testComponent, "authorization_code": code})
	resp, err := http.Post(base+"/cgi-bin/component/api_query_auth?component_access_token="+tok, "application/json", bytes.NewReader(body))
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	var out struct {
		Errcode int `json:"errcode"`
		Info    struct {
			AppID string `json:"authorizer_appid"`
		} `json:"authorization_info"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.Errcode != 0 {
		return fmt.Sprintf("errcode %d %v", out.Errcode, err)
	}
	return out.Info.AppID
}

func TestBulkCreatesWithoutAuthorizing(t *testing.T) {
	e := newEnv(t)
	status, out := e.do(http.MethodPost, "/sandbox/api/apps/bulk", map[string]any{"count": 20})
	if status != http.StatusOK || num(out, "created") != 20 || num(out, "authorized") != 0 {
		t.Fatalf("bulk without authorize: HTTP %d %v", status, out)
	}
	_, app := e.do(http.MethodGet, "/sandbox/api/apps/"+out["appids"].([]any)[0].(string), nil)
	if app["authorized"] != false {
		t.Errorf("an app made without authorize is authorized: %v", app)
	}
}

func TestBulkRefusesBadRequests(t *testing.T) {
	e := newEnv(t)
	for _, body := range []map[string]any{
		{"count": 0}, {"count": -5}, {"count": bulkLimit + 1}, {},
		{"count": 1, "component_appid": "wx0000000000000bad"},
		{"count": 1, "func_info": []int{1}}, {"count": 1, "func_info": []int{}},
	} {
		if status, out := e.do(http.MethodPost, "/sandbox/api/apps/bulk", body); status != http.StatusBadRequest || str(out, "error") == "" {
			t.Errorf("bulk %v: HTTP %d %v, want 400 with an error", body, status, out)
		}
	}
}
