package ha_test

import (
	"context"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/leap-dev/leap/services/store"
)

// A master whose replicas are all gone refuses writes (min-replicas-to-write
// 1, as the operator runs it), so that it cannot accept what a failover
// would then discard. The services must answer that with a 503 the sender
// retries, not a 500: store.Unavailable must say so.
func TestMasterWithoutReplicasIsUnavailableNotBroken(t *testing.T) {
	master := startRedis(t, "")
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + master.port, Password: password})
	defer c.Close()
	err := c.Set(context.Background(), "k", "v", 0).Err()
	if err == nil {
		t.Fatal("a master without replicas accepted a write")
	}
	if !store.Unavailable(err) {
		t.Fatalf("store.Unavailable(%v) = false: a write refused for want of replicas would be a 500, not a 503", err)
	}
}
