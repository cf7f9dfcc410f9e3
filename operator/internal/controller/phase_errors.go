package controller

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// The phases of a reconcile, as status names them; the three services are
// phases under their own names (ingestion, scoring, portal).
const (
	phasePolicy        = "policy"
	phaseSecrets       = "secrets"
	phaseRedis         = "redis"
	phasePortalAccess  = "portal-access"
	phaseIngress       = "ingress"
	phaseScoringAccess = "scoring-access"
	phaseStatus        = "status"
)

// phaseReasons are Ready's reasons when a phase fails.
var phaseReasons = map[string]string{
	phasePolicy:        "PolicyFailed",
	phaseSecrets:       "SecretsFailed",
	phaseRedis:         "RedisFailed",
	phaseBackup:        phaseBackupReasonFailed,
	phasePortalAccess:  "PortalAccessFailed",
	"ingestion":        "IngestionFailed",
	"scoring":          "ScoringFailed",
	"portal":           "PortalFailed",
	phaseIngress:       "IngressFailed",
	phaseScoringAccess: "ScoringAccessFailed",
	phaseStatus:        "StatusReadFailed",
}

// phaseError is one phase that failed.
type phaseError struct {
	phase string
	err   error
}

func (e phaseError) reason() string {
	if r, ok := phaseReasons[e.phase]; ok {
		return r
	}
	return ReasonReconcileError
}

// phaseErrors are the phases of one reconcile that failed, in order.
type phaseErrors []phaseError

func (p phaseErrors) Error() string {
	parts := make([]string, len(p))
	for i, e := range p {
		parts[i] = e.phase + ": " + e.err.Error()
	}
	return strings.Join(parts, "; ")
}

func (p phaseErrors) Unwrap() []error {
	out := make([]error, len(p))
	for i, e := range p {
		out[i] = e.err
	}
	return out
}

// maxMessage bounds a condition message built from errors, so that one
// refusal cannot fill the status (the API server allows 32 KiB).
const maxMessage = 1024

// readable is err as a person reads it in a condition: each failing phase
// by name, the API server's refusal by object and cause, and no dump of Go
// structures (a refused StatefulSet update appends one) or wrapping noise.
func readable(err error) string {
	if errors.Is(err, reconcile.TerminalError(nil)) {
		if cause := errors.Unwrap(err); cause != nil {
			err = cause // without the "terminal error: " prefix
		}
	}
	var failed phaseErrors
	if !errors.As(err, &failed) {
		return clip(describe(err), maxMessage)
	}
	parts := make([]string, len(failed))
	for i, e := range failed {
		parts[i] = e.phase + ": " + describe(e.err)
	}
	return clip(strings.Join(parts, "; "), maxMessage)
}

// describe is one error in a line: for a refusal of the API server, the
// object and each cause; otherwise the error's text.
func describe(err error) string {
	var status apierrors.APIStatus
	if !errors.As(err, &status) {
		return firstLine(err.Error())
	}
	s := status.Status()
	what := ""
	if d := s.Details; d != nil && d.Name != "" {
		what = fmt.Sprintf("%s %s: ", d.Kind, d.Name)
	}
	if d := s.Details; d != nil && len(d.Causes) > 0 {
		causes := make([]string, 0, len(d.Causes))
		for _, c := range d.Causes {
			msg := firstLine(c.Message)
			if c.Field != "" {
				msg = c.Field + ": " + msg
			}
			causes = append(causes, clip(msg, 300))
		}
		return fmt.Sprintf("%srefused (%s): %s", what, s.Reason, strings.Join(causes, "; "))
	}
	return what + clip(firstLine(s.Message), 300)
}

// firstLine cuts s at its first line break or at the start of a dumped Go
// value ("{"), which the API server appends to some refusals.
func firstLine(s string) string {
	if i := strings.IndexAny(s, "\n{"); i >= 0 {
		s = s[:i]
	}
	return strings.TrimSpace(s)
}

// clip shortens s to at most n bytes, on a rune boundary, marking the cut.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
