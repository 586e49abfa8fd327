package cards

import (
	"strings"
	"testing"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/wechat"
)

// WeChat's card refusals reach the operator coded and named: a consumed
// code and an expired one (40127, WeChat's global return-code table) are
// conflicts, not malformed requests.
func TestWeChatErrNamesCardCodeStates(t *testing.T) {
	for _, c := range []struct {
		code int
		kind string
		says string
	}{
		{wechat.CodeCardCodeConsumed, wxfleet.ECONFLICT, "already consumed"},
		{wechat.CodeCardCodeUnavailable, wxfleet.ECONFLICT, "has expired"},
		{wechat.CodeInvalidCardCode, wxfleet.ENOTFOUND, "no such card or code"},
		{40097, wxfleet.EINVALID, "errcode 40097"},
	} {
		err := weChatErr(&wechat.Error{Path: "/card/code/consume", Code: c.code, Message: "m"})
		if wxfleet.ErrorCode(err) != c.kind || !strings.Contains(err.Error(), c.says) {
			t.Errorf("errcode %d: %s %v", c.code, wxfleet.ErrorCode(err), err)
		}
	}
}
