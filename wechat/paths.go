package wechat

import "strings"

// apiPrefixes are the families of WeChat's API host (api.weixin.qq.com) a
// call may be forwarded under: the one list. Anything else — the sandbox's
// control API, a path that climbs out with dot segments — is not WeChat's
// API and is not forwarded.
var apiPrefixes = []string{
	"/cgi-bin/", "/wxa/", "/wxaapi/", "/sns/", "/datacube/", "/wxopen/", "/wxaopen/",
	"/card/", "/bizwifi/", "/customservice/", "/tcb/", "/product/", "/shop/", "/channels/", "/semantic/", "/merchant/",
}

// UnderAPIPrefix reports whether path lies under one of WeChat's API families.
func UnderAPIPrefix(path string) bool {
	for _, p := range apiPrefixes {
		if strings.HasPrefix(path, p) {
			return true
		}
	}
	return false
}

// forwardLabels are the forwarded paths that get their own metric label.
// A forwarded path is whatever a caller sends, so every other one is counted
// as "other": 100 distinct paths once grew /metrics from 232 to 1,732 lines.
// The typed calls' own paths are constants of this package and label
// themselves.
var forwardLabels = map[string]bool{
	"/cgi-bin/message/custom/send": true, "/cgi-bin/message/subscribe/send": true,
	"/cgi-bin/wxopen/template/list": true, "/cgi-bin/user/info": true,
	"/wxa/getwxacode": true, "/wxa/getwxacodeunlimit": true, "/cgi-bin/wxaapp/createwxaqrcode": true,
	"/wxa/generatescheme": true, "/wxa/generate_urllink": true, "/wxa/genwxashortlink": true,
	"/wxa/business/getuserphonenumber": true, "/wxa/msg_sec_check": true, "/wxa/media_check_async": true,
	"/sns/jscode2session": true, "/sns/component/jscode2session": true,
	"/wxa/get_qrcode": true, "/wxa/get_category": true, "/wxa/get_page": true,
	"/datacube/getweanalysisappiddailysummarytrend": true, "/datacube/getweanalysisappiddailyvisittrend": true,
}

// metricPath is the label Observe gets for r's path: typed calls' paths as
// they are, forwarded ones only from forwardLabels.
func metricPath(r *request) string {
	if !r.raw || forwardLabels[r.path] {
		return r.path
	}
	return "other"
}
