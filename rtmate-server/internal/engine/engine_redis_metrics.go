package engine

import "github.com/prometheus/client_golang/prometheus"

// Collector exposes Stats to Prometheus at scrape time, so that the delivery path never
// touches a metric. Register it only for a Redis engine: the metrics mean nothing otherwise.
func (e *Redis) Collector() prometheus.Collector { return (*redisCollector)(e) }

type redisCollector Redis

var _ prometheus.Collector = (*redisCollector)(nil)

var (
	descRedisConnected = prometheus.NewDesc("rtmate_engine_redis_connected",
		"Whether the Redis pub/sub connection is up (1) or reconnecting (0).", nil, nil)
	descRedisReconnects = prometheus.NewDesc("rtmate_engine_redis_reconnects_total",
		"Redis pub/sub connections re-established after a loss.", nil, nil)
	descRedisErrors = prometheus.NewDesc("rtmate_engine_redis_errors_total",
		"Failed Redis operations: commands, (re)subscriptions, heartbeats, replays, undecodable messages.", nil, nil)
	descRedisChannels = prometheus.NewDesc("rtmate_engine_redis_channels",
		"Channels this node is subscribed to in Redis.", nil, nil)
	descRedisReceived = prometheus.NewDesc("rtmate_engine_redis_received_total",
		"Publications received from Redis pub/sub.", nil, nil)
	descRedisRecovered = prometheus.NewDesc("rtmate_engine_redis_recovered_total",
		"Publications this node missed on pub/sub and replayed from history.", nil, nil)
	descRedisLost = prometheus.NewDesc("rtmate_engine_redis_lost_total",
		"Publications this node missed and history could no longer supply.", nil, nil)
	descRedisEpochResets = prometheus.NewDesc("rtmate_engine_redis_epoch_resets_total",
		"Channels found under a new epoch (their history was lost in Redis).", nil, nil)
	descRedisEpochNotices = prometheus.NewDesc("rtmate_engine_redis_epoch_notices_total",
		"Channels whose live subscribers were told of a new epoch (a resync push).", nil, nil)
	descRedisDuplicates = prometheus.NewDesc("rtmate_engine_redis_duplicates_total",
		"Publications dropped because they were already delivered.", nil, nil)
	descRedisDropped = prometheus.NewDesc("rtmate_engine_redis_dropped_total",
		"Publications refused because the delivery backlog was over its bound (replayed from history where there is one).", nil, nil)
	descRedisBacklog = prometheus.NewDesc("rtmate_engine_redis_backlog",
		"Publications received from Redis and waiting for local delivery.", nil, nil)
)

func (c *redisCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descRedisConnected, descRedisReconnects, descRedisErrors, descRedisChannels,
		descRedisReceived, descRedisRecovered, descRedisLost, descRedisEpochResets, descRedisEpochNotices, descRedisDuplicates, descRedisDropped,
		descRedisBacklog} {
		ch <- d
	}
}

func (c *redisCollector) Collect(ch chan<- prometheus.Metric) {
	st := (*Redis)(c).Stats()
	gauge := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v)
	}
	counter := func(d *prometheus.Desc, v uint64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v))
	}
	connected := 0.0
	if st.Connected {
		connected = 1
	}
	gauge(descRedisConnected, connected)
	counter(descRedisReconnects, st.Reconnects)
	counter(descRedisErrors, st.Errors)
	gauge(descRedisChannels, float64(st.Channels))
	counter(descRedisReceived, st.Received)
	counter(descRedisRecovered, st.Recovered)
	counter(descRedisLost, st.Lost)
	counter(descRedisEpochResets, st.EpochResets)
	counter(descRedisEpochNotices, st.EpochNotices)
	counter(descRedisDuplicates, st.Duplicates)
	counter(descRedisDropped, st.Dropped)
	gauge(descRedisBacklog, float64(st.Backlog))
}
