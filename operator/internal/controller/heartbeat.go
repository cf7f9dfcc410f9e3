package controller

import (
	"context"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/leap-dev/leap/operator/api/v1alpha1"
)

// HeartbeatInterval is how often the operator looks at every LeapTerm it
// watches, changed or not. A reconcile refreshes status.observedAt once it
// is half an interval old, so while an operator runs observedAt is never
// more than one and a half intervals (7.5 minutes) old; the API documents
// ten minutes as the mark of an unwatched LeapTerm.
const HeartbeatInterval = 5 * time.Minute

// beat refreshes the heartbeat in status when it is due, and sets
// status.ready from the Ready condition. A LeapTerm that changes nothing
// is written once per heartbeat and not otherwise.
func (r *LeapTermReconciler) beat(term *v1alpha1.LeapTerm) {
	now := r.Clock.Now()
	interval := r.heartbeatInterval()
	// A time ahead of this clock (another replica's, skewed) is refreshed
	// too, or it would vouch for an operator that is gone.
	if at := term.Status.ObservedAt; at == nil || now.Sub(at.Time) >= interval/2 || at.After(now) {
		term.Status.ObservedAt = &metav1.Time{Time: now.Truncate(time.Second)}
	}
	term.Status.Ready = readySummary(term.Status.Conditions)
}

func (r *LeapTermReconciler) heartbeatInterval() time.Duration {
	if r.Heartbeat > 0 {
		return r.Heartbeat
	}
	return HeartbeatInterval
}

// readySummary is the Ready condition in a word, for the READY column:
// True, or why not.
func readySummary(conditions []metav1.Condition) string {
	c := meta.FindStatusCondition(conditions, ConditionReady)
	switch {
	case c == nil:
		return ""
	case c.Status == metav1.ConditionTrue:
		return string(metav1.ConditionTrue)
	case c.Reason != "":
		return c.Reason
	}
	return string(c.Status)
}

// heartbeat queues every LeapTerm the operator's cache holds once per
// interval. A LeapTerm whose spec does not change gets no other event (the
// controller filters status-only updates), so without it observedAt would
// stand still under a running operator.
type heartbeat struct {
	reader   client.Reader
	interval time.Duration
	out      chan<- event.TypedGenericEvent[*v1alpha1.LeapTerm]
}

// Start implements manager.Runnable; it runs on the leader only, as the
// controller does.
func (h heartbeat) Start(ctx context.Context) error {
	tick := time.NewTicker(h.interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		list := &v1alpha1.LeapTermList{}
		if err := h.reader.List(ctx, list); err != nil {
			log.FromContext(ctx).Error(err, "heartbeat: list LeapTerms")
			continue
		}
		for i := range list.Items {
			select {
			case h.out <- event.TypedGenericEvent[*v1alpha1.LeapTerm]{Object: &list.Items[i]}:
			case <-ctx.Done():
				return nil
			}
		}
	}
}
