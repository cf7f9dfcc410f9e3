package controller

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/leap-dev/leap/operator/api/v1alpha1"
	build "github.com/leap-dev/leap/operator/internal/builder"
)

// DefaultTokenOverlap is how long a rotated source's previous token keeps
// working when the request names no overlap.
const DefaultTokenOverlap = 24 * time.Hour

// maxTokenOverlap bounds a requested overlap: a previous token is a
// credential on its way out, not a second permanent one.
const maxTokenOverlap = 30 * 24 * time.Hour

// rotateIngestTokens carries out a requested ingest token rotation and ends
// the overlaps that are over. All its state is in the Secret: SOURCE holds
// the new token and SOURCE.previous the old one with its expiry, so an
// operator restarted mid-rotation picks up where it was. data is the
// generated Secrets' data, updated with what was written so that the
// ingestion pods roll to the new token set through the secrets hash. It
// returns how long until the next overlap ends (0 for none).
func (r *LeapTermReconciler) rotateIngestTokens(ctx context.Context, t *v1alpha1.LeapTerm, data map[string]map[string][]byte) (time.Duration, error) {
	name := build.NamesOf(t).IngestTokens()
	live := &corev1.Secret{}
	if err := r.Client.Get(ctx, key(t, name), live); err != nil {
		if apierrors.IsNotFound(err) {
			return 0, fmt.Errorf("get Secret %s: %w", name, errStaleSecret)
		}
		return 0, fmt.Errorf("get Secret %s: %w", name, err)
	}
	original := live.DeepCopy()
	now := r.Clock.Now()
	var events []string

	// Overlaps that are over: the previous token goes.
	var next time.Duration
	for k, v := range live.Data {
		source, ok := strings.CutSuffix(k, build.PreviousTokenSuffix)
		if !ok {
			continue
		}
		expires, err := previousExpiry(v)
		if err != nil || !now.Before(expires) {
			// A value that cannot be read cannot be honoured either.
			delete(live.Data, k)
			events = append(events, fmt.Sprintf("the previous ingest token of source %s no longer works: its overlap ended; %s's new token alone is valid", source, source))
			continue
		}
		if left := expires.Sub(now); next == 0 || left < next {
			next = left
		}
	}

	// A request, if any: refused requests are evented and consumed too.
	source, requested := t.Annotations[v1alpha1.RotateIngestTokenAnnotation]
	var refused string
	if requested {
		overlap, err := requestedOverlap(t.Annotations[v1alpha1.RotateIngestTokenOverlapAnnotation])
		old, known := live.Data[source]
		switch {
		case err != nil:
			refused = err.Error()
		case !known || strings.HasSuffix(source, build.PreviousTokenSuffix):
			refused = fmt.Sprintf("no ingest token for source %q; the sources are %s", source, strings.Join(sourcesOf(live.Data), ", "))
		default:
			token, err := build.NewIngestToken(r.Random)
			if err != nil {
				return 0, err
			}
			prev := source + build.PreviousTokenSuffix
			expires := now.Add(overlap).UTC().Truncate(time.Second)
			if kept, ok := live.Data[prev]; ok {
				// A rotation asked for during an overlap replaces the new
				// token (perhaps leaked, perhaps never handed out) and keeps
				// the token the source system may still use, with its expiry.
				if e, err := previousExpiry(kept); err == nil {
					expires = e
				}
			} else {
				live.Data[prev] = []byte(string(old) + " " + expires.Format(time.RFC3339))
			}
			live.Data[source] = token
			if left := expires.Sub(now); next == 0 || left < next {
				next = left
			}
			events = append(events, fmt.Sprintf("new ingest token for source %s in Secret %s; the previous one works until %s, then only the new one", source, name, expires.Format(time.RFC3339)))
		}
	}

	// The Secret first, then the request is consumed: an operator stopped
	// between the two rotates once more, which replaces only a new token
	// nobody has been told of yet.
	if len(events) > 0 {
		patch := client.MergeFromWithOptions(original, client.MergeFromWithOptimisticLock{})
		if err := r.Client.Patch(ctx, live, patch, client.FieldOwner(FieldOwner)); err != nil {
			if apierrors.IsConflict(err) {
				return 0, fmt.Errorf("rotate ingest token in Secret %s: %w", name, errStaleSecret)
			}
			return 0, fmt.Errorf("rotate ingest token in Secret %s: %w", name, err)
		}
		data[name] = live.Data
	}
	if requested {
		consumed := t.DeepCopy()
		delete(consumed.Annotations, v1alpha1.RotateIngestTokenAnnotation)
		delete(consumed.Annotations, v1alpha1.RotateIngestTokenOverlapAnnotation)
		if err := r.Client.Patch(ctx, consumed, client.MergeFrom(t), client.FieldOwner(FieldOwner)); err != nil {
			return 0, fmt.Errorf("remove annotation %s: %w", v1alpha1.RotateIngestTokenAnnotation, err)
		}
		t.Annotations = consumed.Annotations
		t.ResourceVersion = consumed.ResourceVersion
	}
	if r.Recorder != nil {
		for _, e := range events {
			reason := ReasonIngestTokenRotated
			if strings.Contains(e, "overlap ended") {
				reason = ReasonIngestTokenRetired
			}
			r.Recorder.Eventf(t, nil, corev1.EventTypeNormal, reason, "RotateIngestToken", "%s", e)
		}
		if refused != "" {
			r.Recorder.Eventf(t, nil, corev1.EventTypeWarning, ReasonIngestTokenRotationRefused, "RotateIngestToken",
				"%s=%s not carried out: %s", v1alpha1.RotateIngestTokenAnnotation, source, refused)
		}
	}
	return next, nil
}

// previousExpiry reads the expiry of a SOURCE.previous value, "TOKEN EXPIRY".
func previousExpiry(v []byte) (time.Time, error) {
	_, at, ok := strings.Cut(strings.TrimSpace(string(v)), " ")
	if !ok {
		return time.Time{}, fmt.Errorf("no expiry in the previous token")
	}
	return time.Parse(time.RFC3339, at)
}

// requestedOverlap reads the overlap annotation; empty means the default.
func requestedOverlap(v string) (time.Duration, error) {
	if v == "" {
		return DefaultTokenOverlap, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 || d > maxTokenOverlap {
		return 0, fmt.Errorf("%s=%q: want a duration such as 2h or 90m, more than 0 and at most %s", v1alpha1.RotateIngestTokenOverlapAnnotation, v, maxTokenOverlap)
	}
	return d, nil
}

// sourcesOf lists the sources with an ingest token.
func sourcesOf(data map[string][]byte) []string {
	var sources []string
	for k := range data {
		if !strings.HasSuffix(k, build.PreviousTokenSuffix) {
			sources = append(sources, k)
		}
	}
	slices.Sort(sources)
	return sources
}
