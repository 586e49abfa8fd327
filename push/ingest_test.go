package push

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/store"
	"github.com/wxfleet/wxfleet/store/storetest"
	"github.com/wxfleet/wxfleet/wxcrypt"
)

// A reader of events that never syncs anything still sees every push the
// receiver acknowledged: on SQLite the journal acknowledges a push before the
// applier (which lets events gather for 100 ms) moves it into the database,
// so a read of the events table alone would miss most of them here.
func TestReaderSeesEveryAcknowledgedPush(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := context.Background()
		st := b.New(t)
		if err := st.UpsertPlatform(ctx, &wxfleet.Platform{AppID: "wxcomponent", Secret: "s", Token: "tok", AESKey: testKey}); err != nil {
			t.Fatal(err)
		}
		in, err := OpenIngest(ctx, st, IngestOptions{Now: time.Now, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { in.Close(ctx) })
		if journaled := in.journal != nil; journaled != (b.Name == store.DialectSQLite) {
			t.Fatalf("%s: journaled = %v", b.Name, journaled)
		}
		r := &rig{now: time.Now()}
		r.c, _ = wxcrypt.New("tok", testKey, "wxcomponent")
		recv := &Receiver{Router: oneRouter{r.c}, Recorder: in, Handler: NewMux(slog.New(slog.DiscardHandler)),
			Now: time.Now, Logger: slog.New(slog.DiscardHandler)}
		mux := http.NewServeMux()
		recv.RegisterRoutes(mux)
		r.srv = httptest.NewServer(mux)
		t.Cleanup(r.srv.Close)

		const n = 40
		for i := range n {
			msg := fmt.Sprintf(`<xml><ToUserName>gh_1</ToUserName><FromUserName>o1</FromUserName><CreateTime>1700000000</CreateTime><MsgType>text</MsgType><Content>%d</Content><MsgId>%d</MsgId></xml>`, i, 1000+i)
			if st, body := r.send(t, "/wechat/apps/wxapp", msg, time.Now()); st != 200 || body != "success" {
				t.Fatalf("push %d: %d %q", i, st, body)
			}
			list, total, err := in.ListEvents(ctx, "wxcomponent", store.EventFilter{AppID: "wxapp", Limit: 1})
			if err != nil {
				t.Fatal(err)
			}
			if total != i+1 || len(list) != 1 || list[0].DedupKey != fmt.Sprintf("m:%d", 1000+i) {
				t.Fatalf("after %d acknowledged pushes the reader sees %d (newest %+v)", i+1, total, list)
			}
			if i == n-1 {
				ev, err := in.Event(ctx, "wxcomponent", list[0].ID)
				if err != nil || ev.DedupKey != list[0].DedupKey {
					t.Fatalf("Event(%d) = %+v, %v", list[0].ID, ev, err)
				}
			}
		}
	})
}
