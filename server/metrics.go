package server

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/silo-dev/silo/store"
)

// metrics are the server's Prometheus collectors, in a registry of its own
// (no global state: several servers can live in one process).
type metrics struct {
	reg         *prometheus.Registry
	requests    *prometheus.CounterVec
	latency     *prometheus.HistogramVec
	bytesStored prometheus.Counter
	bytesUp     prometheus.Counter
	dedupHits   prometheus.Counter
	blobsStored prometheus.Counter
	jobsStarted *prometheus.CounterVec
	jobsDone    *prometheus.CounterVec
	jobsRunning *prometheus.GaugeVec
}

func newMetrics() *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "silo_http_requests_total", Help: "HTTP requests by route and status code."}, []string{"route", "code"})
	m.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "silo_http_request_duration_seconds", Help: "HTTP request latency by route.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300}}, []string{"route"})
	m.bytesStored = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "silo_bytes_stored_total", Help: "Bytes added to packs by uploads (after dedup and compression)."})
	m.bytesUp = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "silo_upload_bytes_total", Help: "Request body bytes received by uploads (tar streams and blobs)."})
	m.dedupHits = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "silo_dedup_hits_total", Help: "Blobs a client did not need to send: reported present by /blobs/missing or already stored on PUT."})
	m.blobsStored = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "silo_blobs_stored_total", Help: "New blobs stored by PUT /blobs/{id}."})
	m.jobsStarted = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "silo_jobs_started_total", Help: "Jobs started by kind."}, []string{"kind"})
	m.jobsDone = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "silo_jobs_finished_total", Help: "Jobs finished by kind and final state."}, []string{"kind", "state"})
	m.jobsRunning = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "silo_jobs_active", Help: "Jobs queued or running by kind."}, []string{"kind"})
	m.reg.MustRegister(m.requests, m.latency, m.bytesStored, m.bytesUp, m.dedupHits, m.blobsStored,
		m.jobsStarted, m.jobsDone, m.jobsRunning,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// watchHooks exports the hook runner's counts: webhook deliveries,
// failures and drops (a full queue), and failed on_* commands.
func (m *metrics) watchHooks(stats func() store.HookStats) {
	counter := func(name, help string, get func(store.HookStats) int64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help},
			func() float64 { return float64(get(stats())) })
	}
	m.reg.MustRegister(
		counter("silo_webhooks_delivered_total", "Webhook events delivered (per URL).", func(s store.HookStats) int64 { return s.Delivered }),
		counter("silo_webhooks_failed_total", "Webhook events not delivered after the retries (per URL).", func(s store.HookStats) int64 { return s.Failed }),
		counter("silo_webhooks_dropped_total", "Webhook events dropped because the queue was full.", func(s store.HookStats) int64 { return s.Dropped }),
		counter("silo_hook_command_failures_total", "on_* hook commands that failed (the operations stood).", func(s store.HookStats) int64 { return s.CommandFailures }))
}

func (m *metrics) observe(route string, code int, d time.Duration) {
	m.requests.WithLabelValues(route, strconv.Itoa(code)).Inc()
	m.latency.WithLabelValues(route).Observe(d.Seconds())
}

func (m *metrics) jobStarted(kind string) {
	m.jobsStarted.WithLabelValues(kind).Inc()
	m.jobsRunning.WithLabelValues(kind).Inc()
}

func (m *metrics) jobFinished(kind, state string) {
	m.jobsDone.WithLabelValues(kind, state).Inc()
	m.jobsRunning.WithLabelValues(kind).Dec()
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}
