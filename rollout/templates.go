package rollout

import (
	"context"
	"time"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/wechat"
)

// Drafts lists the platform's template drafts (草稿箱) as WeChat has them.
func (s *Service) Drafts(ctx context.Context, componentAppID string) ([]wechat.Draft, error) {
	d, err := s.WeChat.Drafts(ctx, s.Tokens.ComponentSource(componentAppID))
	if err != nil {
		return nil, wechatErr("读取草稿箱失败 / listing the drafts failed", err)
	}
	return d, nil
}

// SyncTemplates reads WeChat's template library into the store and returns it.
func (s *Service) SyncTemplates(ctx context.Context, componentAppID string) ([]*wxfleet.Template, error) {
	list, err := s.WeChat.Templates(ctx, s.Tokens.ComponentSource(componentAppID), -1)
	if err != nil {
		return nil, wechatErr("读取模板库失败 / listing the template library failed", err)
	}
	ts := make([]wxfleet.Template, len(list))
	for i, t := range list {
		ts[i] = wxfleet.Template{ComponentAppID: componentAppID, TemplateID: t.TemplateID, DraftID: t.DraftID,
			UserVersion: t.UserVersion, UserDesc: t.UserDesc, TemplateType: t.TemplateType, CreateTime: time.Unix(t.CreateTime, 0)}
	}
	if err := s.Store.SyncTemplates(ctx, componentAppID, ts, s.Now()); err != nil {
		return nil, err
	}
	return s.Store.ListTemplates(ctx, componentAppID)
}

// AddTemplate makes a draft a template and returns it. WeChat's answer names
// no id, so the library is read again and the newest template of that draft
// is the one.
func (s *Service) AddTemplate(ctx context.Context, componentAppID string, draftID int64, templateType int, extJSON, notes string) (*wxfleet.Template, error) {
	if draftID <= 0 {
		return nil, wxfleet.Errorf(wxfleet.EINVALID, "缺少 draft_id / draft_id is required")
	}
	if templateType != wechat.TemplateNormal && templateType != wechat.TemplateStandard {
		return nil, wxfleet.Errorf(wxfleet.EINVALID, "template_type 只能是 0 或 1 / template_type must be 0 or 1")
	}
	if err := ValidateExtJSONTemplate(extJSON); err != nil {
		return nil, err
	}
	if err := s.WeChat.AddToTemplate(ctx, s.Tokens.ComponentSource(componentAppID), draftID, templateType); err != nil {
		return nil, wechatErr("草稿转为模板失败 / making the draft a template failed", err)
	}
	list, err := s.SyncTemplates(ctx, componentAppID)
	if err != nil {
		return nil, err
	}
	var made *wxfleet.Template
	for _, t := range list {
		if t.DraftID == draftID && (made == nil || t.TemplateID > made.TemplateID) {
			made = t
		}
	}
	if made == nil {
		return nil, wxfleet.Errorf(wxfleet.EUNAVAILABLE, "微信已接受草稿 %d，但模板库里还没有它，请稍后刷新 / WeChat accepted draft %d but its template is not listed yet; refresh shortly", draftID, draftID)
	}
	if extJSON != "" || notes != "" {
		if err := s.Store.SetTemplateDetails(ctx, componentAppID, made.TemplateID, extJSON, notes); err != nil {
			return nil, err
		}
		made.ExtJSON, made.Notes = extJSON, notes
	}
	return made, nil
}

// SetTemplateDetails sets a template's ext_json template and notes.
func (s *Service) SetTemplateDetails(ctx context.Context, componentAppID string, templateID int64, extJSON, notes string) error {
	if err := ValidateExtJSONTemplate(extJSON); err != nil {
		return err
	}
	return s.Store.SetTemplateDetails(ctx, componentAppID, templateID, extJSON, notes)
}

// DeleteTemplate deletes a template on WeChat's side and marks it deleted.
func (s *Service) DeleteTemplate(ctx context.Context, componentAppID string, templateID int64) error {
	if _, err := s.Store.Template(ctx, componentAppID, templateID); err != nil {
		return err
	}
	err := s.WeChat.DeleteTemplate(ctx, s.Tokens.ComponentSource(componentAppID), templateID)
	if code, _ := classify(err); err != nil && code != wechat.CodeTemplateNotFound {
		return wechatErr("删除模板失败 / deleting the template failed", err)
	}
	return s.Store.MarkTemplateDeleted(ctx, componentAppID, templateID, s.Now())
}

// wechatErr wraps a failed WeChat call: WeChat's refusals are the caller's
// to fix (conflict), anything else is WeChat being unavailable.
func wechatErr(msg string, err error) error {
	if code, transient := classify(err); code != 0 && !transient {
		return wxfleet.WrapError(wxfleet.ECONFLICT, msg, err)
	}
	return wxfleet.WrapError(wxfleet.EUNAVAILABLE, msg, err)
}
