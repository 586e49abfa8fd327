package wechat

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"testing"
)

var pngBytes = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR{\"errcode\":1}")

func TestForwardPassesBinaryThrough(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("Content-Type", "image/png")
		w.Header().Set("X-Extra", "yes")
		w.Write(pngBytes)
	})
	c, _, obs := newClient(f.srv.URL, Options{})
	query := url.Values{"access_token": {"CALLER-TOKEN", "another"}, "scene": {"a b"}}
	resp, err := c.Forward(context.Background(), StaticToken("ATOK"), "post", "/wxa/getwxacodeunlimit", query, []byte(`{"scene":"x"}`))
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != 200 || resp.ContentType != "image/png" || resp.Header.Get("X-Extra") != "yes" || !bytes.Equal(resp.Body, pngBytes) {
		t.Errorf("response %d %q %q, want the PNG unchanged", resp.Status, resp.ContentType, resp.Body)
	}
	if resp.Err() != nil {
		t.Errorf("Err() = %v for an image", resp.Err())
	}
	r := f.requests()[0]
	if r.Method != http.MethodPost || r.Path != "/wxa/getwxacodeunlimit" || string(r.Body) != `{"scene":"x"}` || r.ContentType != "application/json; charset=utf-8" {
		t.Errorf("request %s %s %q %q", r.Method, r.Path, r.Body, r.ContentType)
	}
	if want := map[string][]string{"access_token": {"ATOK"}, "scene": {"a b"}}; !reflect.DeepEqual(map[string][]string(r.Query), want) {
		t.Errorf("query %v, want %v", r.Query, want)
	}
	if query.Get("access_token") != "CALLER-TOKEN" {
		t.Error("Forward modified the caller's query")
	}
	if !equal(obs.got(), []int{0}) {
		t.Errorf("Observe saw %v", obs.got())
	}
}

func TestForwardGetWithoutBody(t *testing.T) {
	f := newFake(t, answer(`{"errcode":0,"errmsg":"ok","category_list":[]}`))
	c, _, _ := newClient(f.srv.URL, Options{})
	resp, err := c.Forward(context.Background(), StaticToken("ATOK"), http.MethodGet, "/wxa/get_category", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if string(resp.Body) != `{"errcode":0,"errmsg":"ok","category_list":[]}` {
		t.Errorf("body %s", resp.Body)
	}
	r := f.requests()[0]
	if r.Method != http.MethodGet || len(r.Body) != 0 || r.ContentType != "" || r.Query.Get("access_token") != "ATOK" {
		t.Errorf("request %+v", r)
	}
}

func TestForwardErrcodesAndRetries(t *testing.T) {
	t.Run("errcode is in the response, not an error", func(t *testing.T) {
		body := `{"errcode":85013,"errmsg":"无效的自定义配置 rid: 1-2-3"}`
		f := newFake(t, answer(body))
		c, _, _ := newClient(f.srv.URL, Options{})
		resp, err := c.Forward(context.Background(), StaticToken("ATOK"), "POST", "/wxa/commit", nil, []byte(`{}`))
		if err != nil {
			t.Fatal(err)
		}
		if string(resp.Body) != body || ErrorCode(resp.Err()) != 85013 {
			t.Errorf("body %s, Err() %v", resp.Body, resp.Err())
		}
		if len(f.requests()) != 1 {
			t.Errorf("%d requests", len(f.requests()))
		}
	})
	t.Run("busy retried", func(t *testing.T) {
		f := newFake(t, answer(`{"errcode":-1,"errmsg":"system error"}`, `{"errcode":0,"errmsg":"ok","auditid":7}`))
		c, s, _ := newClient(f.srv.URL, Options{})
		resp, err := c.Forward(context.Background(), StaticToken("ATOK"), "POST", "/wxa/submit_audit", nil, []byte(`{}`))
		if err != nil || resp.Err() != nil || string(resp.Body) != `{"errcode":0,"errmsg":"ok","auditid":7}` {
			t.Errorf("resp %v, err %v", resp, err)
		}
		if len(f.requests()) != 2 || len(s.got()) != 1 {
			t.Errorf("%d requests, %d waits", len(f.requests()), len(s.got()))
		}
	})
	t.Run("token error refreshed once", func(t *testing.T) {
		f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
			if r.URL.Query().Get("access_token") == "stale" {
				io.WriteString(w, `{"errcode":42001,"errmsg":"access_token expired rid: 1-2-3"}`)
				return
			}
			w.Header().Set("Content-Type", "image/jpeg")
			w.Write([]byte{0xff, 0xd8, 0xff})
		})
		c, _, _ := newClient(f.srv.URL, Options{})
		ts := &fakeTS{tokens: []string{"stale", "fresh"}}
		resp, err := c.Forward(context.Background(), ts, "GET", "/cgi-bin/media/get", url.Values{"media_id": {"M"}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(resp.Body, []byte{0xff, 0xd8, 0xff}) || resp.ContentType != "image/jpeg" {
			t.Errorf("got %q %q", resp.ContentType, resp.Body)
		}
		if !equal(ts.gotInvalidated(), []string{"stale"}) || !equal(tokensSent(f.requests(), "access_token"), []string{"stale", "fresh"}) {
			t.Errorf("invalidated %v, sent %v", ts.gotInvalidated(), tokensSent(f.requests(), "access_token"))
		}
	})
	t.Run("non-200 passed through", func(t *testing.T) {
		f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
			w.Header().Set("Content-Type", "text/plain")
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, "no such API")
		})
		c, s, obs := newClient(f.srv.URL, Options{})
		resp, err := c.Forward(context.Background(), StaticToken("ATOK"), "POST", "/nope", nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if resp.Status != 404 || string(resp.Body) != "no such API" || resp.ContentType != "text/plain" {
			t.Errorf("resp %d %q %q", resp.Status, resp.ContentType, resp.Body)
		}
		if len(f.requests()) != 1 || len(s.got()) != 0 || !equal(obs.got(), []int{-2}) {
			t.Errorf("%d requests, %d waits, observed %v", len(f.requests()), len(s.got()), obs.got())
		}
	})
}

func TestForwardRejectsBadPaths(t *testing.T) {
	f := newFake(t, answer(`{}`))
	c, _, _ := newClient(f.srv.URL, Options{})
	for _, p := range []string{"", "wxa/commit", "/wxa/commit?access_token=x", "/a#b", "https://evil.example/x"} {
		if _, err := c.Forward(context.Background(), StaticToken("ATOK"), "POST", p, nil, nil); err == nil {
			t.Errorf("Forward accepted path %q", p)
		}
	}
	if _, err := c.Forward(context.Background(), StaticToken("ATOK"), "", "/x", nil, nil); err == nil {
		t.Error("Forward accepted an empty method")
	}
	if n := len(f.requests()); n != 0 {
		t.Errorf("%d requests sent", n)
	}
}
