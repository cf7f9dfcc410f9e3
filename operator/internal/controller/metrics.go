package controller

import (
	"context"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/leap-dev/leap/operator/api/v1alpha1"
)

// ConditionCollector exports each LeapTerm's conditions as kube-state-metrics
// exports a pod's: one series per condition and status (true, false,
// unknown), the one that holds at 1 and the others at 0, read from the
// operator's cache at each scrape. So an alert can name the LeapTerm
// (leap_leapterm_status_condition{condition="Ready",status="false"} == 1)
// and a count is a sum. The reconcile metrics (rate, errors, latency) come
// from controller-runtime.
type ConditionCollector struct {
	Client client.Reader
}

var conditionDesc = prometheus.NewDesc("leap_leapterm_status_condition",
	"The status of each condition of each LeapTerm: 1 for the status that holds, 0 for the others.",
	[]string{"namespace", "name", "condition", "status"}, nil)

// conditionStatuses are the values of the status label, as kube-state-metrics writes them.
var conditionStatuses = []string{"true", "false", "unknown"}

// Describe implements prometheus.Collector.
func (c ConditionCollector) Describe(ch chan<- *prometheus.Desc) { ch <- conditionDesc }

// Collect implements prometheus.Collector.
func (c ConditionCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	list := &v1alpha1.LeapTermList{}
	if err := c.Client.List(ctx, list); err != nil {
		log.FromContext(ctx).Error(err, "metrics: list LeapTerms")
		return
	}
	for i := range list.Items {
		t := &list.Items[i]
		for _, cond := range t.Status.Conditions {
			holds := strings.ToLower(string(cond.Status))
			for _, s := range conditionStatuses {
				v := 0.0
				if s == holds {
					v = 1
				}
				ch <- prometheus.MustNewConstMetric(conditionDesc, prometheus.GaugeValue, v, t.Namespace, t.Name, cond.Type, s)
			}
		}
	}
}
