package rollout

import (
	"strings"
	"testing"

	"github.com/wxfleet/wxfleet"
)

func TestRenderExtJSON(t *testing.T) {
	settings := map[string]any{
		"shop":   map[string]any{"name": "张记面馆", "id": float64(42), "open": true},
		"theme":  map[string]any{"color": "#ff0000"},
		"banner": []any{"a.png", "b.png"},
	}
	cases := []struct {
		name, tmpl, want, err string
	}{
		{"empty template gets extAppid", ``, `{"extAppid":"wxa"}`, ""},
		{"placeholders keep their type", `{"ext":{"shopId":"${settings.shop.id}","open":"${settings.shop.open}","banner":"${settings.banner}"}}`,
			`{"ext":{"banner":["a.png","b.png"],"open":true,"shopId":42},"extAppid":"wxa"}`, ""},
		{"embedded placeholders become text", `{"window":{"navigationBarTitleText":"${settings.shop.name} · ${appid} #${settings.shop.id}"}}`,
			`{"extAppid":"wxa","window":{"navigationBarTitleText":"张记面馆 · wxa #42"}}`, ""},
		{"html is not escaped", `{"ext":{"x":"a<b>&c"}}`, `{"ext":{"x":"a<b>&c"},"extAppid":"wxa"}`, ""},
		{"extAppid may be the placeholder", `{"extAppid":"${appid}"}`, `{"extAppid":"wxa"}`, ""},
		{"numbers keep their digits", `{"ext":{"n":12345678901234567890}}`, `{"ext":{"n":12345678901234567890},"extAppid":"wxa"}`, ""},
		{"wrong extAppid", `{"extAppid":"wxother"}`, "", "extAppid"},
		{"missing setting", `{"ext":{"x":"${settings.shop.phone}"}}`, "", "shop.phone"},
		{"unknown placeholder", `{"ext":{"x":"${tenant}"}}`, "", "${tenant}"},
		{"object inside text", `{"ext":{"x":"shop: ${settings.shop}"}}`, "", "cannot be part of a text"},
		{"not JSON", `{"ext":`, "", "not valid JSON"},
		{"not an object", `["a"]`, "", "must be a JSON object"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := RenderExtJSON(tc.tmpl, "wxa", settings)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("RenderExtJSON = %s, %v; want an error mentioning %q", got, err, tc.err)
				}
				if wxfleet.ErrorCode(err) != wxfleet.EINVALID {
					t.Errorf("error code %q, want invalid", wxfleet.ErrorCode(err))
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("RenderExtJSON = %s, %v; want %s", got, err, tc.want)
			}
		})
	}
}

func TestRenderExtJSONTooLarge(t *testing.T) {
	big := strings.Repeat("x", maxExtJSON)
	_, err := RenderExtJSON(`{"ext":{"x":"${settings.big}"}}`, "wxa", map[string]any{"big": big})
	if err == nil || !strings.Contains(err.Error(), "bytes") {
		t.Fatalf("a %d-byte ext_json was accepted: %v", len(big), err)
	}
}

func TestValidateExtJSONTemplate(t *testing.T) {
	for tmpl, ok := range map[string]bool{
		``: true, `{}`: true, `{"ext":{"a":"${settings.x}","b":"${appid}"}}`: true,
		`{"ext":{"a":"${settings.}"}}`: false, `{"a":"${app}"}`: false, `[1]`: false, `{`: false,
	} {
		if err := ValidateExtJSONTemplate(tmpl); (err == nil) != ok {
			t.Errorf("ValidateExtJSONTemplate(%s) = %v", tmpl, err)
		}
	}
}
