package pay

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/store/storetest"
	"github.com/wxfleet/wxfleet/webhook"
)

// sandboxStates is each order's trade_state at the sandbox, by out_trade_no.
func (p *sandboxPay) sandboxStates(t *testing.T) map[string]string {
	t.Helper()
	resp, err := http.Get(p.url + "/sandbox/api/pay/orders")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var list struct {
		Items []struct {
			OutTradeNo string `json:"out_trade_no"`
			State      string `json:"trade_state"`
		} `json:"items"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, o := range list.Items {
		out[o.OutTradeNo] = o.State
	}
	return out
}

// emitted records the events a Service emits.
type emitted struct {
	mu     sync.Mutex
	events []webhook.Event
}

func (e *emitted) Emit(_ context.Context, _ *sql.Tx, ev webhook.Event) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.events = append(e.events, ev)
	return nil
}

// of lists the type and source of each event, in order.
func (e *emitted) of() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for _, ev := range e.events {
		d, _ := ev.Data.(map[string]any)
		out = append(out, fmt.Sprint(ev.Type, " ", d["out_trade_no"], " ", d["source"]))
	}
	return out
}

// The auto-close against the sandbox, the clock moved past the payment
// window: an order left unpaid ends CLOSED both here and at WeChat Pay; one
// paid whose notification was lost ends paid (recorded once), not closed;
// one younger than the window is left alone; a second run does nothing.
// pay.closed (source auto) and pay.paid (source query) are emitted once each.
func TestCloseUnpaidAgainstTheSandbox(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := context.Background()
		p := newSandboxPay(t, b, "biz_close_1")
		events := &emitted{}
		p.s.Events = events
		rs := &wxfleet.RuntimeSession{ComponentAppID: "wxcomponent00001", AppID: "wxapp0000000001", OpenID: "o-user-1"}
		order := func(no string) {
			t.Helper()
			if _, err := p.s.CreateOrder(ctx, rs, OrderRequest{Description: "牛肉面", Amount: 1500, OutTradeNo: no}); err != nil {
				t.Fatal(err)
			}
		}
		order("close_unpaid_1")
		order("close_paid_1")
		if st := post(t, p.url+"/sandbox/api/pay/orders/close_paid_1/pay", map[string]any{"sub_mchid": p.sub, "lose_notification": true}, nil); st != 200 {
			t.Fatalf("pay: %d", st)
		}
		p.clk.add(DefaultCloseAfter - time.Minute)
		order("close_young_1")
		if res, err := p.s.CloseUnpaid(ctx, 0); err != nil || res.Asked != 0 {
			t.Fatalf("inside the window: %+v %v", res, err)
		}
		p.clk.add(2 * time.Minute)
		if res, err := p.s.CloseUnpaid(ctx, 0); err != nil || res != (ReconcileResult{Asked: 2, Paid: 1, Closed: 1}) {
			t.Fatalf("past the window: %+v %v", res, err)
		}
		state := func(no string) string {
			t.Helper()
			o, err := p.s.FindOrder(ctx, wxfleet.Scope{}, "wxcomponent00001", p.sub, no)
			if err != nil {
				t.Fatal(err)
			}
			return o.State
		}
		at := p.sandboxStates(t)
		if state("close_unpaid_1") != wxfleet.OrderClosed || at["close_unpaid_1"] != "CLOSED" {
			t.Fatalf("the unpaid order: %s here, %s at the sandbox", state("close_unpaid_1"), at["close_unpaid_1"])
		}
		if state("close_paid_1") != wxfleet.OrderPaid || at["close_paid_1"] != "SUCCESS" {
			t.Fatalf("the paid order: %s here, %s at the sandbox", state("close_paid_1"), at["close_paid_1"])
		}
		if state("close_young_1") != wxfleet.OrderNotPaid || at["close_young_1"] != "NOTPAY" {
			t.Fatalf("the young order: %s here, %s at the sandbox", state("close_young_1"), at["close_young_1"])
		}
		ns, err := p.st.PayNotifications(ctx, wxfleet.Scope{}, "wxcomponent00001", p.sub, "close_paid_1")
		if err != nil || len(ns) != 1 {
			t.Fatalf("the paid order's records: %+v %v", ns, err)
		}
		if res, err := p.s.CloseUnpaid(ctx, 0); err != nil || res.Asked != 0 {
			t.Fatalf("again: %+v %v", res, err)
		}
		if got := strings.Join(events.of(), "; "); got != "pay.closed close_unpaid_1 auto; pay.paid close_paid_1 query" &&
			got != "pay.paid close_paid_1 query; pay.closed close_unpaid_1 auto" {
			t.Fatalf("events: %s", got)
		}
	})
}

// An order whose placing never reached WeChat Pay (no prepay_id: the call
// failed on the way) is not asked about for a month: past the window,
// WeChat Pay answers ORDER_NOT_EXIST and it is closed here alone, with its
// pay.closed event; a second run asks nothing.
func TestCloseUnpaidClosesAnUnplacedOrder(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := context.Background()
		p := newSandboxPay(t, b, "biz_close_2")
		events := &emitted{}
		p.s.Events = events
		o := &wxfleet.PayOrder{ComponentAppID: "wxcomponent00001", OutTradeNo: "close_unplaced_1", SubMchID: p.sub, AppID: "wxapp0000000001",
			OpenID: "o-user-1", Description: "牛肉面", Amount: 1500, State: wxfleet.OrderNotPaid, CreatedAt: p.clk.now()}
		if err := p.st.CreatePayOrder(ctx, o); err != nil {
			t.Fatal(err)
		}
		p.clk.add(DefaultCloseAfter + time.Minute)
		if res, err := p.s.CloseUnpaid(ctx, 0); err != nil || res != (ReconcileResult{Asked: 1, Closed: 1}) {
			t.Fatalf("the unplaced order: %+v %v", res, err)
		}
		got, err := p.s.FindOrder(ctx, wxfleet.Scope{}, "wxcomponent00001", p.sub, o.OutTradeNo)
		if err != nil || got.State != wxfleet.OrderClosed {
			t.Fatalf("after the close: %+v %v", got, err)
		}
		if _, at := p.sandboxStates(t)[o.OutTradeNo]; at {
			t.Fatal("the sandbox has the order: it was placed after all")
		}
		if res, err := p.s.CloseUnpaid(ctx, 0); err != nil || res.Asked != 0 {
			t.Fatalf("again: %+v %v", res, err)
		}
		if got := strings.Join(events.of(), "; "); got != "pay.closed close_unplaced_1 auto" {
			t.Fatalf("events: %s", got)
		}
	})
}
