// Package ha holds the failover test of the Redis topology the operator
// runs for spec.redis.replicas: 3 — a master, two replicas and three
// Sentinels — driven through the services' own store client, with real
// redis-server and Sentinel processes.
package ha
