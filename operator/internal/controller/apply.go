package controller

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// FieldOwner is the server-side apply field manager of every write the
// operator makes.
const FieldOwner = "leap-operator"

// applier writes desired objects by server-side apply, skipping the write
// when the fields the operator owns on the live object already equal the
// desired ones. Comparing only owned fields (the extracted apply
// configuration) leaves defaulted fields and other managers' fields out of
// the comparison, so an unchanged LeapTerm costs no write, while a field
// edited by hand has changed owner and so differs, and is taken back.
type applier struct {
	client client.Client
}

// apply writes desired unless live already carries it. live is an empty
// object of the desired kind; extract is the client-go Extract function of
// that kind; normalize, if given, removes from the extracted configuration
// what the API server records as ours but we never send. It reports whether
// it wrote.
func apply[O client.Object, A runtime.ApplyConfiguration](ctx context.Context, a applier, key client.ObjectKey, live O, desired A, extract func(O, string) (A, error), normalize ...func(A)) (bool, error) {
	err := a.client.Get(ctx, key, live)
	switch {
	case err == nil:
		owned, err := extract(live, FieldOwner)
		if err != nil {
			return false, fmt.Errorf("extract fields of %T %s: %w", live, key, err)
		}
		for _, n := range normalize {
			n(owned)
		}
		if equality.Semantic.DeepEqual(owned, desired) {
			return false, nil
		}

	case !apierrors.IsNotFound(err):
		return false, fmt.Errorf("get %T %s: %w", live, key, err)
	}
	if err := a.client.Apply(ctx, desired, client.FieldOwner(FieldOwner), client.ForceOwnership); err != nil {
		return false, fmt.Errorf("apply %T %s: %w", live, key, err)
	}
	return true, nil
}

// deleteIfPresent removes an object the LeapTerm no longer asks for.
func deleteIfPresent(ctx context.Context, c client.Client, key client.ObjectKey, obj client.Object) error {
	if err := c.Get(ctx, key, obj); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("get %T %s: %w", obj, key, err)
	}
	if err := c.Delete(ctx, obj); client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("delete %T %s: %w", obj, key, err)
	}
	return nil
}
