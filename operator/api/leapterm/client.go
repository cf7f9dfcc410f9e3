// Package leapterm is a small client for one LeapTerm, for the portal: it
// gets the LeapTerm and patches its policy over plain HTTP, without
// client-go, as the portal's ServiceAccount. It sits beside the API, as
// client-go sits beside k8s.io/api, so that the operator's tests can run
// the portal's exact requests against the chart's admission policy without
// the operator depending on the services.
package leapterm

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/leap-dev/leap/operator/api/v1alpha1"
)

// FieldManager is the field manager the portal's changes are recorded under.
const FieldManager = "leap-portal"

// Client reads and patches one LeapTerm.
type Client struct {
	// BaseURL of the API server, HTTP carrying its credentials.
	BaseURL   string
	HTTP      *http.Client
	Token     func() (string, error) // bearer token; nil when HTTP authenticates
	Namespace string
	Name      string
}

// InCluster is a Client with the pod's ServiceAccount credentials.
func InCluster(namespace, name string) (*Client, error) {
	host, port := os.Getenv("KUBERNETES_SERVICE_HOST"), os.Getenv("KUBERNETES_SERVICE_PORT")
	if host == "" || port == "" {
		return nil, fmt.Errorf("not in a cluster: KUBERNETES_SERVICE_HOST is unset")
	}
	const dir = "/var/run/secrets/kubernetes.io/serviceaccount/"
	ca, err := os.ReadFile(dir + "ca.crt")
	if err != nil {
		return nil, fmt.Errorf("read the cluster CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		return nil, fmt.Errorf("the cluster CA holds no certificate")
	}
	return &Client{
		BaseURL: "https://" + net.JoinHostPort(host, port),
		HTTP:    &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}},
		// The token is re-read on each use: the kubelet rotates it.
		Token: func() (string, error) {
			b, err := os.ReadFile(dir + "token")
			return strings.TrimSpace(string(b)), err
		},
		Namespace: namespace, Name: name,
	}, nil
}

// Where names the LeapTerm for people.
func (c *Client) Where() string { return "LeapTerm " + c.Namespace + "/" + c.Name }

// Get reads the LeapTerm.
func (c *Client) Get(ctx context.Context) (*v1alpha1.LeapTerm, error) {
	resp, err := c.do(ctx, http.MethodGet, "", nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("get %s: %s", c.Where(), resp.Status)
	}
	var t v1alpha1.LeapTerm
	if err := json.NewDecoder(resp.Body).Decode(&t); err != nil {
		return nil, fmt.Errorf("get %s: %w", c.Where(), err)
	}
	return &t, nil
}

// MergePatch sends a JSON merge patch under FieldManager. The API server's
// refusal comes back as the error, with its message.
func (c *Client) MergePatch(ctx context.Context, body []byte) error {
	resp, err := c.do(ctx, http.MethodPatch, "?fieldManager="+FieldManager, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("patch %s: %s: %s", c.Where(), resp.Status, msg)
	}
	return nil
}

// SetAttendance switches attendance with AttendancePatch.
func (c *Client) SetAttendance(ctx context.Context, enabled bool, reason string, history []v1alpha1.PolicyEra) error {
	body, err := AttendancePatch(enabled, reason, history)
	if err != nil {
		return err
	}
	return c.MergePatch(ctx, body)
}

func (c *Client) do(ctx context.Context, method, query string, body []byte) (*http.Response, error) {
	u := fmt.Sprintf("%s/apis/leap.dev/v1alpha1/namespaces/%s/leapterms/%s%s",
		strings.TrimSuffix(c.BaseURL, "/"), url.PathEscape(c.Namespace), url.PathEscape(c.Name), query)
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/merge-patch+json")
	}
	if c.Token != nil {
		tok, err := c.Token()
		if err != nil {
			return nil, fmt.Errorf("read the service account token: %w", err)
		}
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", strings.ToLower(method), c.Where(), err)
	}
	return resp, nil
}
