package cards

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/push"
	"github.com/wxfleet/wxfleet/store/storetest"
)

// WeChat retries a push it got no answer to; the receiver hands the retry
// to the handler again (Inserted false). Each card event, delivered three
// times, counts once, and a review pushed before the create's row keeps its
// verdict.
func TestPushesAppliedOnce(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		st := b.New(t)
		ctx := context.Background()
		if err := st.UpsertPlatform(ctx, &wxfleet.Platform{AppID: "wxcomp", Token: "t", AESKey: "k", Secret: "s"}); err != nil {
			t.Fatal(err)
		}
		if err := st.UpsertAuthorizer(ctx, &wxfleet.Authorizer{ComponentAppID: "wxcomp", AppID: "wxoa", Status: wxfleet.StatusAuthorized}); err != nil {
			t.Fatal(err)
		}
		f := &Feature{Service: &Service{Store: st, Now: time.Now, Logger: slog.New(slog.DiscardHandler)}}
		mux := push.NewMux(slog.New(slog.DiscardHandler))
		f.RegisterPushes(mux)
		deliver := func(event, extra string) {
			t.Helper()
			doc := fmt.Sprintf(`<xml><ToUserName>gh_oa</ToUserName><FromUserName>oUser</FromUserName><CreateTime>1700000000</CreateTime>`+
				`<MsgType>event</MsgType><Event>%s</Event><CardId>pCard</CardId>%s</xml>`, event, extra)
			msg, err := push.ParseMessage([]byte(doc))
			if err != nil {
				t.Fatal(err)
			}
			for i := range 3 {
				ev := &wxfleet.Event{ComponentAppID: "wxcomp", AppID: "wxoa", Type: "event." + event,
					CreateTime: time.Unix(1700000000, 0), ReceivedAt: time.Now(), Payload: []byte(doc)}
				if _, err := mux.Message(ctx, ev, msg, i == 0); err != nil {
					t.Fatalf("%s: %v", event, err)
				}
			}
		}
		deliver("card_not_pass_check", "<RefuseReason>图片不清晰</RefuseReason>")
		if err := st.PutCard(ctx, &wxfleet.Card{ComponentAppID: "wxcomp", AppID: "wxoa", CardID: "pCard", CardType: "CASH", Title: "代金券", CreatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
		c, err := st.Card(ctx, wxfleet.Scope{}, "wxcomp", "wxoa", "pCard")
		if err != nil || c.ReviewStatus != wxfleet.CardRejected || c.RefuseReason != "图片不清晰" {
			t.Fatalf("card = %+v, %v", c, err)
		}
		deliver("card_pass_check", "")
		deliver("user_get_card", "<UserCardCode>123456789012</UserCardCode><IsGiveByFriend>0</IsGiveByFriend>")
		deliver("user_consume_card", "<UserCardCode>123456789012</UserCardCode><ConsumeSource>FROM_MOBILE_HELPER</ConsumeSource>")
		c, err = st.Card(ctx, wxfleet.Scope{}, "wxcomp", "wxoa", "pCard")
		if err != nil || c.ReviewStatus != wxfleet.CardApproved || c.RefuseReason != "" || c.Issued != 1 || c.Redeemed != 1 {
			t.Fatalf("card = %+v, %v; want approved, issued 1, redeemed 1", c, err)
		}
		// A push for an account the platform does not serve is acknowledged, not retried forever.
		msg, _ := push.ParseMessage([]byte(`<xml><MsgType>event</MsgType><Event>card_pass_check</Event><CardId>pX</CardId></xml>`))
		if _, err := mux.Message(ctx, &wxfleet.Event{ComponentAppID: "wxcomp", AppID: "wxnobody"}, msg, true); err != nil {
			t.Fatalf("unknown authorizer: %v", err)
		}
	})
}
