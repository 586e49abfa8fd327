package push

import "testing"

func TestParseMessage(t *testing.T) {
	tests := []struct {
		name, doc string
		want      map[string]string
		wantErr   bool
	}{
		{"cdata", `<xml><AppId><![CDATA[wxc]]></AppId><CreateTime>1413192605</CreateTime><InfoType><![CDATA[component_verify_ticket]]></InfoType></xml>`,
			map[string]string{"AppId": "wxc", "CreateTime": "1413192605", "InfoType": "component_verify_ticket"}, false},
		{"plain text and whitespace", "<?xml version=\"1.0\"?>\n<xml>\n  <AppId>wxc</AppId>\n  <Content>a &lt; b &amp; c</Content>\n</xml>\n",
			map[string]string{"AppId": "wxc", "Content": "a < b & c"}, false},
		{"closing tag inside cdata", `<xml><Content><![CDATA[</Content> x]]></Content><MsgId>1</MsgId></xml>`,
			map[string]string{"Content": "</Content> x", "MsgId": "1"}, false},
		{"nested kept verbatim", `<xml><info><name><![CDATA[n]]></name></info><status>0</status></xml>`,
			map[string]string{"info": "<name><![CDATA[n]]></name>", "status": "0"}, false},
		{"chinese", `<xml><Content><![CDATA[你好，世界]]></Content></xml>`, map[string]string{"Content": "你好，世界"}, false},
		{"not xml", `{"a":1}`, nil, true},
		{"wrong root", `<root><a>1</a></root>`, nil, true},
		{"unterminated", `<xml><a>1</xml>`, nil, true},
		{"unterminated cdata", `<xml><a><![CDATA[1</a></xml>`, nil, true},
		{"empty", ``, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := ParseMessage([]byte(tt.doc))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			for k, v := range tt.want {
				if got := m.Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
			if !tt.wantErr && len(m) != len(tt.want) {
				t.Errorf("got %d fields, want %d: %v", len(m), len(tt.want), m)
			}
		})
	}
}

func FuzzParseMessage(f *testing.F) {
	f.Add([]byte(`<xml><a><![CDATA[x]]></a><b>2</b></xml>`))
	f.Add([]byte(`<xml><a><b>c</b></a></xml>`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		_, _ = ParseMessage(doc)
	})
}
