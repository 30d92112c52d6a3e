package kvcache_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/durable-go/durable/clock"
	"github.com/durable-go/durable/kvcache"
	"github.com/durable-go/durable/storage"
)

// openExampleDB opens a database in a temporary directory; the returned
// function closes and removes it.
func openExampleDB() (*storage.DB, func()) {
	dir, err := os.MkdirTemp("", "kvcache-example")
	if err != nil {
		log.Fatal(err)
	}
	db, err := storage.Open(dir, nil)
	if err != nil {
		log.Fatal(err)
	}
	return db, func() {
		db.Close()
		os.RemoveAll(dir)
	}
}

func ExampleNamespace() {
	ctx := context.Background()
	db, cleanup := openExampleDB()
	defer cleanup()

	// A fake clock shows expiry without waiting; leave Clock nil in
	// production.
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	ns, err := kvcache.Open(db, "SESSIONS", &kvcache.Options{Clock: clk})
	if err != nil {
		log.Fatal(err)
	}
	defer ns.Close()

	err = ns.Put(ctx, "session/alice", []byte("token-1"), kvcache.PutOptions{
		TTL:      time.Hour,
		Metadata: map[string]string{"role": "admin"},
	})
	if err != nil {
		log.Fatal(err)
	}
	e, ok, err := ns.GetWithMetadata(ctx, "session/alice")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(ok, string(e.Value), string(e.Metadata), e.Expiration.Format(time.TimeOnly))

	clk.Advance(time.Hour)
	_, ok, err = ns.Get(ctx, "session/alice")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("after an hour:", ok)
	// Output:
	// true token-1 {"role":"admin"} 01:00:00
	// after an hour: false
}

func ExampleNamespace_List() {
	ctx := context.Background()
	db, cleanup := openExampleDB()
	defer cleanup()
	ns, err := kvcache.Open(db, "USERS", nil)
	if err != nil {
		log.Fatal(err)
	}
	defer ns.Close()
	for _, k := range []string{"user/ann", "user/bob", "user/cat", "team/ops"} {
		if err := ns.Put(ctx, k, nil, kvcache.PutOptions{}); err != nil {
			log.Fatal(err)
		}
	}

	// Page through the keys under user/, two at a time.
	opts := kvcache.ListOptions{Prefix: "user/", Limit: 2}
	for {
		page, err := ns.List(ctx, opts)
		if err != nil {
			log.Fatal(err)
		}
		for _, k := range page.Keys {
			fmt.Println(k.Name)
		}
		if page.ListComplete {
			break
		}
		opts.Cursor = page.Cursor
	}
	// Output:
	// user/ann
	// user/bob
	// user/cat
}

func ExampleCache() {
	ctx := context.Background()
	// load stands for a slow origin, such as an HTTP API.
	load := func(ctx context.Context, key string) (string, error) {
		if key == "missing" {
			return "", kvcache.ErrNotFound
		}
		return "value of " + key, nil
	}
	c, err := kvcache.NewCache(load, &kvcache.CacheOptions[string]{
		TTL:                  time.Minute,
		StaleWhileRevalidate: 10 * time.Second,
		StaleIfError:         time.Hour,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	for range 2 {
		v, status, err := c.Get(ctx, "a")
		// An HTTP handler would set the X-Cache header to status.String().
		fmt.Println(v, status, err)
	}
	_, status, err := c.Get(ctx, "missing")
	fmt.Println(status, err)
	// Output:
	// value of a MISS <nil>
	// value of a HIT <nil>
	// MISS kvcache: key not found
}

func ExampleNewNamespaceCache() {
	ctx := context.Background()
	db, cleanup := openExampleDB()
	defer cleanup()
	ns, err := kvcache.Open(db, "FLAGS", nil)
	if err != nil {
		log.Fatal(err)
	}
	defer ns.Close()

	type Flags struct {
		Beta bool `json:"beta"`
	}
	flags, err := kvcache.NewNamespaceCache(ns, kvcache.JSON[Flags]{}, &kvcache.CacheOptions[Flags]{
		TTL: 30 * time.Second,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer flags.Close()

	// A write through the cache reaches the namespace and is read back at
	// once; other caches over FLAGS see it within their TTL.
	if err := flags.Put(ctx, "site", Flags{Beta: true}, kvcache.PutOptions{}); err != nil {
		log.Fatal(err)
	}
	f, status, err := flags.Get(ctx, "site")
	fmt.Println(f.Beta, status, err)
	raw, _, _ := ns.Get(ctx, "site")
	fmt.Println(string(raw))
	// Output:
	// true HIT <nil>
	// {"beta":true}
}
