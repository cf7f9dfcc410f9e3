package controller

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/leap-dev/leap/operator/api/v1alpha1"
)

// claim makes this operator instance the one that reconciles term, and
// reports false when another instance has claimed it. Two releases of the
// chart watching the same namespace (or a cluster-wide one and a namespaced
// one) would otherwise fight over every child, each applying its own images
// and flags. The first to write its name in the leap.dev/operator annotation
// keeps the LeapTerm; the write carries the resourceVersion it read, so two
// instances claiming at once cannot both win.
func (r *LeapTermReconciler) claim(ctx context.Context, term *v1alpha1.LeapTerm) (bool, error) {
	if r.Instance == "" {
		return true, nil
	}
	switch owner := term.Annotations[v1alpha1.OperatorAnnotation]; owner {
	case r.Instance:
		return true, nil
	case "":
		original := term.DeepCopy()
		if term.Annotations == nil {
			term.Annotations = map[string]string{}
		}
		term.Annotations[v1alpha1.OperatorAnnotation] = r.Instance
		patch := client.MergeFromWithOptions(original, client.MergeFromWithOptimisticLock{})
		if err := r.Client.Patch(ctx, term, patch, client.FieldOwner(FieldOwner)); err != nil {
			if apierrors.IsConflict(err) {
				return false, errStaleStatus // read it again: someone may have claimed it
			}
			return false, fmt.Errorf("claim LeapTerm %s/%s: %w", term.Namespace, term.Name, err)
		}
		return true, nil
	default:
		log.FromContext(ctx).V(1).Info("another operator instance reconciles this LeapTerm; leaving it alone", "instance", owner)
		return false, nil
	}
}
