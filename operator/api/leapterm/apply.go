package leapterm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	apijson "k8s.io/apimachinery/pkg/util/json"
)

// ErrConflict is the API server's refusal of a change worked out from a
// LeapTerm that has changed since: someone else applied first. Nothing
// was written; read the LeapTerm again and start over.
var ErrConflict = errors.New("the LeapTerm changed since it was read")

// GetSpec reads the LeapTerm's spec as JSON values (whole numbers as
// int64, the form package draft takes) and its resourceVersion.
func (c *Client) GetSpec(ctx context.Context) (spec map[string]any, resourceVersion string, err error) {
	resp, err := c.do(ctx, http.MethodGet, "", nil)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, "", fmt.Errorf("get %s: %s", c.Where(), resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return nil, "", fmt.Errorf("get %s: %w", c.Where(), err)
	}
	var obj struct {
		Metadata struct {
			ResourceVersion string `json:"resourceVersion"`
		} `json:"metadata"`
		Spec map[string]any `json:"spec"`
	}
	if err := apijson.Unmarshal(b, &obj); err != nil {
		return nil, "", fmt.Errorf("get %s: %w", c.Where(), err)
	}
	return obj.Spec, obj.Metadata.ResourceVersion, nil
}

// PolicyPatch is the JSON merge patch that applies a change of spec
// (draft.Result.Patch) only to the LeapTerm at resourceVersion: the API
// server refuses it with 409 Conflict when the LeapTerm has changed since,
// so two people applying at once cannot lose one change silently.
func PolicyPatch(resourceVersion string, spec map[string]any) ([]byte, error) {
	if resourceVersion == "" {
		return nil, errors.New("a policy change needs the resourceVersion it was worked out from")
	}
	body, err := json.Marshal(map[string]any{
		"metadata": map[string]any{"resourceVersion": resourceVersion},
		"spec":     spec,
	})
	if err != nil {
		return nil, fmt.Errorf("encode the policy change: %w", err)
	}
	return body, nil
}

// ApplyPolicy sends PolicyPatch under FieldManager. A conflict comes back
// as ErrConflict; any other refusal with the API server's message.
func (c *Client) ApplyPolicy(ctx context.Context, resourceVersion string, spec map[string]any) error {
	return c.applyPolicy(ctx, resourceVersion, spec, "")
}

// DryRunPolicy is ApplyPolicy checked by the API server and written
// nowhere (?dryRun=All): every rule runs, the CRD's and the admission
// policies' (which narrow what the portal may change), so a form can say
// why an apply would fail before anyone applies. A refusal by the rules
// is a *Refusal (errors.As), with the path of each refused field.
func (c *Client) DryRunPolicy(ctx context.Context, resourceVersion string, spec map[string]any) error {
	return c.applyPolicy(ctx, resourceVersion, spec, "&dryRun=All")
}

func (c *Client) applyPolicy(ctx context.Context, resourceVersion string, spec map[string]any, query string) error {
	body, err := PolicyPatch(resourceVersion, spec)
	if err != nil {
		return err
	}
	resp, err := c.do(ctx, http.MethodPatch, "?fieldManager="+FieldManager+query, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	switch resp.StatusCode {
	case http.StatusOK:
		return nil
	case http.StatusConflict:
		return fmt.Errorf("patch %s: %w: %s", c.Where(), ErrConflict, msg)
	}
	if r, ok := refusalOf(resp.StatusCode, msg); ok {
		return fmt.Errorf("patch %s: %w", c.Where(), r)
	}
	return fmt.Errorf("patch %s: %s: %s", c.Where(), resp.Status, msg)
}

// Refusal is the API server's refusal of a change by its rules: the CRD's
// schema and CEL rules (422 Invalid, each refused field a Cause with its
// path), or an admission policy or RBAC (403 Forbidden, a message alone).
type Refusal struct {
	Code    int
	Message string
	Causes  []Cause
}

// Cause is one refused field: its path in the LeapTerm (spec.scoring.bands)
// and the API server's words.
type Cause struct {
	Field   string
	Message string
}

func (r *Refusal) Error() string { return r.Message }

// refusalOf reads the Status the API server answers a refused change
// with; false for an answer that is not a refusal by the rules.
func refusalOf(code int, body []byte) (*Refusal, bool) {
	if code != http.StatusUnprocessableEntity && code != http.StatusForbidden {
		return nil, false
	}
	var status struct {
		Kind    string `json:"kind"`
		Message string `json:"message"`
		Details struct {
			Causes []struct {
				Field   string `json:"field"`
				Message string `json:"message"`
			} `json:"causes"`
		} `json:"details"`
	}
	// A body that is not a Status (it does not decode, or has another
	// kind) is no refusal by the rules: the caller reports the status
	// line and body as they are.
	_ = json.Unmarshal(body, &status)
	if status.Kind != "Status" {
		return nil, false
	}
	r := &Refusal{Code: code, Message: status.Message}
	for _, c := range status.Details.Causes {
		r.Causes = append(r.Causes, Cause{Field: c.Field, Message: c.Message})
	}
	return r, true
}
