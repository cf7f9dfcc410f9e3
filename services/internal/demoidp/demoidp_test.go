package demoidp

import (
	"encoding/json"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// TestSignInAndSignOut runs the code flow a portal runs, then ends the
// session: the provider sends the browser back to a registered
// post-logout address, and refuses any other.
func TestSignInAndSignOut(t *testing.T) {
	var h http.Handler
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	defer srv.Close()
	const app = "http://portal.example"
	h = New(srv.URL, []User{{ID: "u1", Username: "s1", Password: "pw", Email: "s1@example.ac.uk", Groups: []string{"students"}}},
		[]Client{{ID: "portal", Secret: "secret", RedirectURI: app + "/auth/callback", PostLogoutRedirectURIs: []string{app + "/login"}}})
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(req *http.Request, _ []*http.Request) error {
		if strings.HasPrefix(req.URL.String(), app) {
			return http.ErrUseLastResponse
		}
		return nil
	}}

	q := url.Values{"client_id": {"portal"}, "redirect_uri": {app + "/auth/callback"}, "response_type": {"code"}, "scope": {"openid email profile"}, "state": {"st"}}
	resp, err := c.Get(srv.URL + "/auth?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	id := resp.Request.URL.Query().Get("authRequestID")
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != LoginPath || id == "" {
		t.Fatalf("authorize: %d at %s", resp.StatusCode, resp.Request.URL)
	}
	resp, err = c.PostForm(srv.URL+LoginPath, url.Values{"id": {id}, "username": {"s1"}, "password": {"wrong"}})
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != LoginPath {
		t.Fatalf("a wrong password: %d at %s", resp.StatusCode, resp.Request.URL)
	}
	resp, err = c.PostForm(srv.URL+LoginPath, url.Values{"id": {id}, "username": {"s1"}, "password": {"pw"}})
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	back, _ := url.Parse(resp.Header.Get("Location"))
	code := back.Query().Get("code")
	if resp.StatusCode != http.StatusFound || code == "" || back.Query().Get("state") != "st" {
		t.Fatalf("sign-in: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}

	req, _ := http.NewRequest(http.MethodPost, srv.URL+TokenPath, strings.NewReader(url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {app + "/auth/callback"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("portal", "secret")
	resp, err = c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var tok struct {
		IDToken     string `json:"id_token"`
		AccessToken string `json:"access_token"`
	}
	err = json.NewDecoder(resp.Body).Decode(&tok)
	_ = resp.Body.Close()
	if err != nil || tok.IDToken == "" || tok.AccessToken == "" {
		t.Fatalf("token: %d %v %+v", resp.StatusCode, err, tok)
	}
	req, _ = http.NewRequest(http.MethodGet, srv.URL+UserInfoPath, nil)
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	resp, err = c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var info map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&info)
	_ = resp.Body.Close()
	if info["sub"] != "u1" || info["email"] != "s1@example.ac.uk" || info["groups"] == nil {
		t.Errorf("userinfo: %d %v", resp.StatusCode, info)
	}

	end := func(to string) (int, string) {
		t.Helper()
		q := url.Values{"id_token_hint": {tok.IDToken}, "client_id": {"portal"}, "post_logout_redirect_uri": {to}}
		resp, err := c.Get(srv.URL + "/end_session?" + q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("Location")
	}
	if code, to := end(app + "/elsewhere"); code == http.StatusFound && strings.HasPrefix(to, app) {
		t.Errorf("an unregistered address: sent to %s", to)
	}
	if code, to := end(app + "/login"); code != http.StatusFound || to != app+"/login" {
		t.Errorf("sign-out: %d to %q, want %s", code, to, app+"/login")
	}
}
