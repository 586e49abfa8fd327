package web

import (
	"context"
	"fmt"
	"html"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/store/storetest"
)

var eventRow_ = regexp.MustCompile(`<tr data-event="(\d+)">([\s\S]*?)</tr>`)

// eventRows returns the ids and the rows' HTML of an events page, in order.
func eventRows(page string) ([]int64, []string) {
	var ids []int64
	var rows []string
	for _, m := range eventRow_.FindAllStringSubmatch(page, -1) {
		id, _ := strconv.ParseInt(m[1], 10, 64)
		ids = append(ids, id)
		rows = append(rows, m[2])
	}
	return ids, rows
}

// TestEventsPage: the console lists the platform's pushes newest first, the
// appid and type filters narrow the list, the next page link leads to the
// older ones with none shown twice, and a merchant is refused.
func TestEventsPage(t *testing.T) { storetest.Run(t, testEventsPage) }

func testEventsPage(t *testing.T, b storetest.Backend) {
	ts := newTestServer(t, b, nil)
	ctx := context.Background()
	now := time.Now()
	// 55 pushes of two mini programs, every fifth an audit rejection, and a
	// platform-level ticket: 56, one more page than eventsPageSize holds.
	var evs []*wxfleet.Event
	evs = append(evs, &wxfleet.Event{ComponentAppID: testPlatform, Type: "component_verify_ticket", DedupKey: "c:ticket",
		CreateTime: now, ReceivedAt: now, Payload: []byte(`<xml><InfoType>component_verify_ticket</InfoType><ComponentVerifyTicket>[REDACTED]</ComponentVerifyTicket></xml>`)})
	for i := range 55 {
		app := []string{"wxappa", "wxappb"}[i%2]
		ev := &wxfleet.Event{ComponentAppID: testPlatform, AppID: app, Type: "text", DedupKey: fmt.Sprintf("m:%d", i), CreateTime: now, ReceivedAt: now,
			Payload: fmt.Appendf(nil, `<xml><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[消息 %02d]]></Content></xml>`, i)}
		if i%5 == 0 {
			ev.Type = "weapp_audit_fail"
			ev.Payload = fmt.Appendf(nil, `<xml><MsgType>event</MsgType><Event>weapp_audit_fail</Event><Reason>类目不符 %02d</Reason></xml>`, i)
		}
		evs = append(evs, ev)
	}
	if _, err := ts.st.InsertEvents(ctx, evs); err != nil {
		t.Fatal(err)
	}
	ts.account("viewer@isv.example", wxfleet.RoleViewer, 0)
	_, session := ts.signIn("viewer@isv.example", testPassword)
	get := func(path string) string {
		t.Helper()
		st, body := ts.call("GET", path, nil, "Cookie", session)
		if st != 200 {
			t.Fatalf("GET %s: HTTP %d\n%s", path, st, body)
		}
		return body
	}

	first := get("/events")
	ids1, rows1 := eventRows(first)
	if len(ids1) != eventsPageSize {
		t.Fatalf("the first page shows %d events, want %d", len(ids1), eventsPageSize)
	}
	for i := 1; i < len(ids1); i++ {
		if ids1[i] >= ids1[i-1] {
			t.Fatalf("the events are not newest first: %v", ids1)
		}
	}
	if !strings.Contains(first, `<span id="events-total">56</span>`) {
		t.Error("the first page does not show the total of 56")
	}
	if !strings.Contains(rows1[0], `href="/authorizers/wxappa?platform=`+testPlatform+`"`) || !strings.Contains(rows1[0], "<code>text</code>") ||
		!strings.Contains(rows1[0], "消息 54") || !strings.Contains(rows1[0], testPlatform) {
		t.Errorf("the newest row lacks its appid link, type, summary or platform: %s", rows1[0])
	}
	next := regexp.MustCompile(`id="events-next" href="([^"]+)"`).FindStringSubmatch(first)
	if next == nil {
		t.Fatal("the first page has no next page link")
	}
	second := get("/events" + html.UnescapeString(next[1]))
	ids2, rows2 := eventRows(second)
	if len(ids2) != 6 {
		t.Fatalf("the second page shows %d events, want the 6 older ones: %v", len(ids2), ids2)
	}
	seen := map[int64]bool{}
	for _, id := range append(ids1, ids2...) {
		if seen[id] {
			t.Errorf("event %d is shown twice", id)
		}
		seen[id] = true
	}
	if ids2[0] >= ids1[len(ids1)-1] {
		t.Errorf("the second page starts at %d, not below the first page's last %d", ids2[0], ids1[len(ids1)-1])
	}
	if !strings.Contains(rows2[len(rows2)-1], "component_verify_ticket") || strings.Contains(second, `id="events-next"`) || strings.Contains(second, `id="events-total"`) {
		t.Error("the last page does not end with the oldest push, or links further, or counts again")
	}

	byApp := get("/events?appid=wxappb")
	ids, rows := eventRows(byApp)
	if len(ids) != 27 {
		t.Errorf("appid=wxappb shows %d events, want its 27", len(ids))
	}
	for _, row := range rows {
		if !strings.Contains(row, `href="/authorizers/wxappb?`) {
			t.Fatalf("appid=wxappb shows another app's event: %s", row)
		}
	}
	if !strings.Contains(byApp, `name="appid" value="wxappb"`) {
		t.Error("the appid filter is not kept in its input")
	}
	byType := get("/events?type=weapp_audit_fail")
	ids, rows = eventRows(byType)
	if len(ids) != 11 {
		t.Errorf("type=weapp_audit_fail shows %d events, want 11", len(ids))
	}
	for _, row := range rows {
		if !strings.Contains(row, "<code>weapp_audit_fail</code>") || !strings.Contains(row, "类目不符") {
			t.Fatalf("type=weapp_audit_fail shows another type or no reason: %s", row)
		}
	}
	if ids, _ := eventRows(get("/events?appid=wxappa&type=weapp_audit_fail")); len(ids) != 6 {
		t.Errorf("both filters show %d events, want wxappa's 6 rejections", len(ids))
	}

	ts.account("shop@tenant1.example", wxfleet.RoleMerchant, 1)
	_, merchant := ts.signIn("shop@tenant1.example", testPassword)
	if st, body := ts.call("GET", "/events", nil, "Cookie", merchant); st != 403 || strings.Contains(body, "消息") {
		t.Errorf("a merchant gets HTTP %d for the events page, want 403", st)
	}
}
