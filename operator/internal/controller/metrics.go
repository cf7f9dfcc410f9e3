package controller

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/leap-dev/leap/operator/api/v1alpha1"
)

// ReadyCollector exports how many LeapTerms are Ready, not Ready, or not
// yet reported, read from the operator's cache at each scrape. The
// reconcile metrics (rate, errors, latency) come from controller-runtime.
type ReadyCollector struct {
	Client client.Reader
}

var leapTermsDesc = prometheus.NewDesc("leap_leapterms", "LeapTerms by the status of their Ready condition.", []string{"ready"}, nil)

// Describe implements prometheus.Collector.
func (c ReadyCollector) Describe(ch chan<- *prometheus.Desc) { ch <- leapTermsDesc }

// Collect implements prometheus.Collector.
func (c ReadyCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	list := &v1alpha1.LeapTermList{}
	if err := c.Client.List(ctx, list); err != nil {
		return
	}
	counts := map[string]float64{"True": 0, "False": 0, "Unknown": 0}
	for i := range list.Items {
		status := "Unknown"
		if cond := meta.FindStatusCondition(list.Items[i].Status.Conditions, ConditionReady); cond != nil {
			status = string(cond.Status)
		}
		counts[status]++
	}
	for status, n := range counts {
		ch <- prometheus.MustNewConstMetric(leapTermsDesc, prometheus.GaugeValue, n, status)
	}
}
