package v1alpha1

import "testing"

func TestCatalogueIndex(t *testing.T) {
	if len(Catalogue) != NumActivities {
		t.Fatalf("NumActivities %d, catalogue has %d", NumActivities, len(Catalogue))
	}
	for i, a := range Catalogue {
		if j, ok := ActivityIndex(string(a.Key)); !ok || j != i {
			t.Errorf("%s at %d, index says %d", a.Key, i, j)
		}
	}
	if KnownActivity("gym_visit") {
		t.Error("unknown activity known")
	}
}
