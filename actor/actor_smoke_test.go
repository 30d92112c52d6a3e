package actor_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/durable-go/durable/actor"
	"github.com/durable-go/durable/storage"
	"github.com/stretchr/testify/require"
)

type counter struct{ st *actor.State }

func (c *counter) incr(ctx context.Context) (int64, error) {
	tx := c.st.Storage()
	n, _, err := storage.Get[int64](tx, "n")
	if err != nil {
		return 0, err
	}
	n++
	return n, storage.Put(tx, "n", n)
}

func (c *counter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n, err := c.incr(r.Context())
	if err != nil {
		http.Error(w, err.Error(), 500)
		return
	}
	fmt.Fprint(w, n)
}

func TestSmoke(t *testing.T) {
	sys, err := actor.Open(t.TempDir(), nil)
	require.NoError(t, err)
	ns, err := actor.Register(sys, "COUNTER", func(s *actor.State) *counter { return &counter{st: s} })
	require.NoError(t, err)
	stub := ns.Get(ns.IDFromName("a"))
	ctx := context.Background()
	for i := 1; i <= 3; i++ {
		n, err := actor.Call(ctx, stub, func(ctx context.Context, c *counter) (int64, error) { return c.incr(ctx) })
		require.NoError(t, err)
		require.EqualValues(t, i, n)
	}
	resp, err := stub.Fetch(ctx, httptest.NewRequest("POST", "/", nil))
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	require.Equal(t, "4", string(b))
	require.Equal(t, 1, sys.ActiveObjects())
	require.NoError(t, sys.Close())
	require.Equal(t, 0, sys.ActiveObjects())
}
