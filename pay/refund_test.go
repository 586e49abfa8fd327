package pay

import (
	"errors"
	"strings"
	"testing"

	"github.com/wechatpay-apiv3/wechatpay-go/core"

	"github.com/wxfleet/wxfleet"
)

// WeChat Pay's refund refusals (its refund error table, docs/wechat-pay.md
// "Refunds") reach the operator as a coded error saying what to do; others
// keep apiError's wording.
func TestRefundErrorWordsWeChatPaysRefusals(t *testing.T) {
	for _, c := range []struct {
		status        int
		code, errKind string
		says          string
	}{
		{403, "NOT_ENOUGH", wxfleet.ECONFLICT, "balance is too low"},
		{403, "USER_ACCOUNT_ABNORMAL", wxfleet.ECONFLICT, "refund the user another way"},
		{429, "FREQUENCY_LIMITED", wxfleet.ETOOMANY, "try again later"},
		{404, "RESOURCE_NOT_EXISTS", wxfleet.ENOTFOUND, "no paid order"},
		{403, "NO_AUTH", wxfleet.EFORBIDDEN, "may not refund"},
		{400, "INVALID_REQUEST", wxfleet.EINVALID, "WeChat Pay refused the refund"},
	} {
		err := refundError(&core.APIError{StatusCode: c.status, Code: c.code, Message: "m"})
		if wxfleet.ErrorCode(err) != c.errKind || !strings.Contains(err.Error(), c.says) || !strings.Contains(err.Error(), c.code) {
			t.Errorf("%s: %s %v", c.code, wxfleet.ErrorCode(err), err)
		}
	}
	if err := refundError(errors.New("dial tcp: refused")); wxfleet.ErrorCode(err) != wxfleet.EUNAVAILABLE {
		t.Errorf("a failed call: %v", err)
	}
}
