package controller

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/event"

	"github.com/leap-dev/leap/operator/api/v1alpha1"
)

// table is `kubectl get leapterms` of one namespace as the API server
// renders it from the CRD's printer columns: column names by priority, and
// each LeapTerm's cells by column name.
func table(g Gomega, ns string) (columns map[string]int64, rows map[string]map[string]any) {
	hc, err := rest.HTTPClientFor(cfg)
	g.Expect(err).NotTo(HaveOccurred())
	url := fmt.Sprintf("%s/apis/%s/namespaces/%s/leapterms?includeObject=None", strings.TrimSuffix(cfg.Host, "/"), v1alpha1.GroupVersion, ns)
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, url, nil)
	g.Expect(err).NotTo(HaveOccurred())
	req.Header.Set("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io")
	resp, err := hc.Do(req)
	g.Expect(err).NotTo(HaveOccurred())
	defer func() { _ = resp.Body.Close() }()
	g.Expect(resp.StatusCode).To(Equal(http.StatusOK), url)
	var t metav1.Table
	g.Expect(json.NewDecoder(resp.Body).Decode(&t)).To(Succeed())
	columns = map[string]int64{}
	for _, c := range t.ColumnDefinitions {
		columns[c.Name] = int64(c.Priority)
	}
	rows = map[string]map[string]any{}
	for _, r := range t.Rows {
		cells := map[string]any{}
		for i, c := range t.ColumnDefinitions {
			cells[c.Name] = r.Cells[i]
		}
		rows[cells["Name"].(string)] = cells
	}
	return columns, rows
}

// TestGetShowsWhyNotReady reads `kubectl get lt` as the API server renders
// it: READY says True or why not, SEEN when an operator last looked, and
// -o wide adds the Ready condition's reason and message.
func TestGetShowsWhyNotReady(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	ready := reconciled(g, createTerm(t, ns, "ready", typicalSpec))
	rollOut(g, ready)
	waiting := reconciled(g, createTerm(t, ns, "waiting", typicalSpec))
	g.Eventually(func(g Gomega) { g.Expect(condition(g, ready, ConditionReady)).To(Equal(metav1.ConditionTrue)) }).
		WithTimeout(10 * time.Second).Should(Succeed())

	columns, rows := table(g, ns)
	g.Expect(columns).To(And(
		HaveKeyWithValue("Ready", int64(0)), HaveKeyWithValue("Paused", int64(0)), HaveKeyWithValue("Seen", int64(0)),
		HaveKeyWithValue("Reason", int64(1)), HaveKeyWithValue("Message", int64(1))))

	g.Expect(rows[ready.Name]).To(And(
		HaveKeyWithValue("Ready", "True"),
		HaveKeyWithValue("Reason", ReasonAllReady),
		HaveKeyWithValue("Seen", Not(BeEmpty()))))
	g.Expect(rows[waiting.Name]).To(And(
		HaveKeyWithValue("Ready", ReasonComponentsNotReady),
		HaveKeyWithValue("Reason", ReasonComponentsNotReady),
		HaveKeyWithValue("Message", ContainSubstring("not ready: redis, ingestion, scoring, portal"))))

	// Paused: the operator is not checking, and READY says so.
	updateTerm(g, ready, func(t *v1alpha1.LeapTerm) {
		metav1.SetMetaDataAnnotation(&t.ObjectMeta, v1alpha1.PauseAnnotation, "disabled")
	})
	g.Eventually(func(g Gomega) {
		_, rows := table(g, ns)
		g.Expect(rows[ready.Name]).To(And(HaveKeyWithValue("Ready", ReasonPaused), HaveKeyWithValue("Paused", "True")))
	}).WithTimeout(10 * time.Second).Should(Succeed())
}

// TestHeartbeatLooksAtEveryLeapTermEachInterval runs the heartbeat source
// against the API server: each tick queues every LeapTerm, changed or not.
func TestHeartbeatLooksAtEveryLeapTermEachInterval(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	a := createTerm(t, ns, "beat-a", typicalSpec)
	b := createTerm(t, ns, "beat-b", typicalSpec)
	out := make(chan event.TypedGenericEvent[*v1alpha1.LeapTerm])
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- heartbeat{reader: k8s, interval: 50 * time.Millisecond, out: out}.Start(ctx) }()

	seen := map[string]int{}
	for seen[a.Name] < 2 || seen[b.Name] < 2 {
		select {
		case e := <-out:
			if e.Object.Namespace == ns {
				seen[e.Object.Name]++
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("the heartbeat queued %v, want both LeapTerms twice", seen)
		}
	}
	cancel()
	g.Expect(<-done).To(Succeed())
}
