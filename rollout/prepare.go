package rollout

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/riverqueue/river"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/wechat"
)

// The prepare step: before every commit the app's settings are compared
// with what the template declares (wxfleet.TemplatePolicy) and set where
// they differ, and an app in gray release is skipped (WeChat takes no other
// release while one runs). docs/wechat-code.md "Settings a release depends on".

// privacyVerDev is the privacy guide of the development version: the code a
// commit uploads, which the audit and the release then carry.
const privacyVerDev = 2

// applyPolicy reads each part p manages from WeChat and sets the parts that
// differ. It returns the names of the parts it set ("domains",
// "webviewdomain", "privacy"); none when everything matched.
func (s *Service) applyPolicy(ctx context.Context, ts wechat.TokenSource, p *wxfleet.TemplatePolicy, pace func(context.Context, string) error) ([]string, error) {
	var set []string
	if p.Empty() {
		return nil, nil
	}
	if d := p.Domains; d != nil {
		if err := pace(ctx, "/wxa/modify_domain"); err != nil {
			return set, err
		}
		cur, err := s.WeChat.ModifyDomain(ctx, ts, "get", wechat.Domains{})
		if err != nil {
			return set, err
		}
		have := [][]string{cur.Request, cur.WSRequest, cur.Upload, cur.Download, cur.UDP, cur.TCP}
		same := true
		for i, want := range d.Lists() {
			same = same && wxfleet.SameSet(have[i], want)
		}
		if !same {
			if err := pace(ctx, "/wxa/modify_domain"); err != nil {
				return set, err
			}
			if _, err := s.WeChat.ModifyDomain(ctx, ts, "set", wechat.Domains{Request: nonNil(d.RequestDomain),
				WSRequest: nonNil(d.WSRequestDomain), Upload: nonNil(d.UploadDomain), Download: nonNil(d.DownloadDomain),
				UDP: nonNil(d.UDPDomain), TCP: nonNil(d.TCPDomain)}); err != nil {
				return set, err
			}
			set = append(set, "domains")
		}
	}
	if w := p.WebviewDomain; w != nil {
		if err := pace(ctx, "/wxa/setwebviewdomain"); err != nil {
			return set, err
		}
		cur, err := s.WeChat.WebviewDomains(ctx, ts, "get", nil)
		if err != nil {
			return set, err
		}
		if !wxfleet.SameSet(cur, *w) {
			if err := pace(ctx, "/wxa/setwebviewdomain"); err != nil {
				return set, err
			}
			if _, err := s.WeChat.WebviewDomains(ctx, ts, "set", nonNil(*w)); err != nil {
				return set, err
			}
			set = append(set, "webviewdomain")
		}
	}
	if pp := p.Privacy; pp != nil {
		if err := pace(ctx, "/cgi-bin/component/getprivacysetting"); err != nil {
			return set, err
		}
		cur, err := s.WeChat.Privacy(ctx, ts, privacyVerDev)
		if err != nil {
			return set, err
		}
		if !samePrivacy(cur, pp) {
			if err := pace(ctx, "/cgi-bin/component/setprivacysetting"); err != nil {
				return set, err
			}
			if err := s.WeChat.SetPrivacy(ctx, ts, privacySetting(pp)); err != nil {
				return set, err
			}
			set = append(set, "privacy")
		}
	}
	return set, nil
}

func nonNil(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}

// samePrivacy tells whether WeChat's privacy guide is the declared one. A
// guide never set (no update_time) is missing and never matches: a missing
// guide breaks the mini program's privacy APIs.
func samePrivacy(cur *wechat.PrivacyInfo, p *wxfleet.PrivacyPolicy) bool {
	if cur.UpdateTime == 0 {
		return false
	}
	o := cur.OwnerSetting
	if (wxfleet.PrivacyOwner{ContactEmail: o.ContactEmail, ContactPhone: o.ContactPhone, ContactQQ: o.ContactQQ,
		ContactWeixin: o.ContactWeixin, ExtFileMediaID: o.ExtFileMediaID, NoticeMethod: o.NoticeMethod,
		StoreExpireTimestamp: o.StoreExpireTimestamp}) != p.OwnerSetting {
		return false
	}
	have := make([]string, len(cur.SettingList))
	for i, e := range cur.SettingList {
		have[i] = e.PrivacyKey + "\x00" + e.PrivacyText
	}
	want := make([]string, len(p.SettingList))
	for i, e := range p.SettingList {
		want[i] = e.PrivacyKey + "\x00" + e.PrivacyText
	}
	return wxfleet.SameSet(have, want)
}

func privacySetting(p *wxfleet.PrivacyPolicy) wechat.PrivacySetting {
	o := p.OwnerSetting
	out := wechat.PrivacySetting{PrivacyVer: privacyVerDev, OwnerSetting: wechat.PrivacyOwner{
		ContactEmail: o.ContactEmail, ContactPhone: o.ContactPhone, ContactQQ: o.ContactQQ, ContactWeixin: o.ContactWeixin,
		ExtFileMediaID: o.ExtFileMediaID, NoticeMethod: o.NoticeMethod, StoreExpireTimestamp: o.StoreExpireTimestamp,
	}, SettingList: []wechat.PrivacyElement{}}
	for _, e := range p.SettingList {
		out.SettingList = append(out.SettingList, wechat.PrivacyElement{PrivacyKey: e.PrivacyKey, PrivacyText: e.PrivacyText})
	}
	return out
}

// ValidatePolicy checks a policy before it is stored: domains with the
// scheme modify_domain takes per list, a privacy guide with a notice method,
// one contact and a text per key (what WeChat requires; docs/wechat-code.md).
func ValidatePolicy(p *wxfleet.TemplatePolicy) error {
	if p.Empty() {
		return nil
	}
	if d := p.Domains; d != nil {
		schemes := []string{"https://", "wss://", "https://", "https://", "udp://", "tcp://"}
		names := []string{"requestdomain", "wsrequestdomain", "uploaddomain", "downloaddomain", "udpdomain", "tcpdomain"}
		for i, l := range d.Lists() {
			for _, v := range l {
				if !strings.HasPrefix(v, schemes[i]) || len(v) == len(schemes[i]) {
					return wxfleet.Errorf(wxfleet.EINVALID, "%s 的 %q 须以 %s 开头 / %s: %q must start with %s", names[i], v, schemes[i], names[i], v, schemes[i])
				}
			}
		}
	}
	if w := p.WebviewDomain; w != nil {
		for _, v := range *w {
			if !strings.HasPrefix(v, "https://") || len(v) == len("https://") {
				return wxfleet.Errorf(wxfleet.EINVALID, "webviewdomain 的 %q 须以 https:// 开头 / webviewdomain: %q must start with https://", v, v)
			}
		}
	}
	if pp := p.Privacy; pp != nil {
		o := pp.OwnerSetting
		if o.NoticeMethod == "" || o.ContactEmail == "" && o.ContactPhone == "" && o.ContactQQ == "" && o.ContactWeixin == "" {
			return wxfleet.Errorf(wxfleet.EINVALID, "隐私指引须有 notice_method 和至少一种联系方式 / the privacy guide needs notice_method and at least one contact")
		}
		var keys []string
		for _, e := range pp.SettingList {
			if e.PrivacyKey == "" || e.PrivacyText == "" {
				return wxfleet.Errorf(wxfleet.EINVALID, "setting_list 的每一项须有 privacy_key 和 privacy_text / every setting_list entry needs privacy_key and privacy_text")
			}
			if slices.Contains(keys, e.PrivacyKey) {
				return wxfleet.Errorf(wxfleet.EINVALID, "privacy_key %q 重复 / privacy_key %q is repeated", e.PrivacyKey, e.PrivacyKey)
			}
			keys = append(keys, e.PrivacyKey)
		}
	}
	return nil
}

// GrayAutoRelease is how long a gray release runs at most: on its 15th day
// WeChat releases the version fully by itself (docs/wechat-code.md "Gray
// release rules").
const GrayAutoRelease = 15 * 24 * time.Hour

// grayReason says why an app in gray release is skipped.
const grayReason = "分阶段发布进行中，须先全量发布或撤销 / a gray release is in progress: release it fully or revert it first"

// grayInProgress asks WeChat whether a gray release runs (or is paused).
func (s *Service) grayInProgress(ctx context.Context, ts wechat.TokenSource, pace func(context.Context, string) error) (bool, error) {
	if err := pace(ctx, "/wxa/getgrayreleaseplan"); err != nil {
		return false, err
	}
	p, err := s.WeChat.GrayReleasePlanOf(ctx, ts)
	if err != nil {
		return false, err
	}
	return p.Status == wechat.GrayRunning || p.Status == wechat.GrayPaused, nil
}

// prepare is the commit job's first part: skip an app in gray release, then
// make its settings match the template's policy. It reports whether the app
// was skipped (its state moved).
func (st *step) prepare(ctx context.Context, t *wxfleet.Template) (bool, error) {
	gray, err := st.s.grayInProgress(ctx, st.ts(), st.s.pace)
	if err != nil {
		return false, err
	}
	if gray {
		st.app.State, st.app.Reason = wxfleet.AppSkipped, grayReason
		st.s.observe("prepare", "gray")
		return true, st.move(ctx, wxfleet.AppPending, nil)
	}
	set, err := st.s.applyPolicy(ctx, st.ts(), t.Policy, st.s.pace)
	if err != nil {
		return false, err
	}
	if len(set) > 0 {
		st.s.observe("prepare", "set")
		st.s.Logger.Info("rollout prepare: settings set", "component_appid", st.r.ComponentAppID, "rollout", st.r.ID,
			"appid", st.app.AppID, "set", set)
	} else if !t.Policy.Empty() {
		st.s.observe("prepare", "matching")
	}
	return false, nil
}

// paceWait is pace for a caller that is not a job (a dry run): it waits for
// its slot instead of snoozing.
func (s *Service) paceWait(ctx context.Context, path string) error {
	for {
		err := s.pace(ctx, path)
		var se *river.JobSnoozeError
		if !errors.As(err, &se) {
			return err
		}
		t := time.NewTimer(time.Second)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}
