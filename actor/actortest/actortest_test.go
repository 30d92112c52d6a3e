package actortest_test

import (
	"context"
	"testing"
	"time"

	"github.com/durable-go/durable/actor"
	"github.com/durable-go/durable/actor/actortest"
	"github.com/durable-go/durable/storage"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type note struct {
	st     *actor.State
	alarms int
	closed *int
}

func (n *note) Alarm(ctx context.Context, info actor.AlarmInfo) error {
	n.alarms++
	return storage.Put(n.st.Storage(), "alarmed", true)
}

func (n *note) Close(ctx context.Context) error {
	*n.closed++
	return nil
}

func TestKit(t *testing.T) {
	sys := actortest.NewSystem(t, nil)
	assert.True(t, sys.Clock.Now().Equal(actortest.Epoch))
	assert.Same(t, sys.Clock, sys.System.Clock())
	closed := 0
	ns, err := actor.Register(sys.System, "NOTE", func(s *actor.State) *note { return &note{st: s, closed: &closed} })
	require.NoError(t, err)
	ctx := context.Background()
	id := ns.IDFromName("a")
	stub := ns.Get(id)
	_, err = actor.Call(ctx, stub, func(ctx context.Context, n *note) (int, error) {
		return 0, n.st.Storage().SetAlarm(sys.Clock.Now().Add(time.Hour))
	})
	require.NoError(t, err)

	assert.True(t, actortest.RunAlarm(t, ns, id))
	assert.False(t, actortest.RunAlarm(t, ns, id), "the alarm ran twice")
	alarms, err := actor.Call(ctx, stub, func(ctx context.Context, n *note) (int, error) { return n.alarms, nil })
	require.NoError(t, err)
	assert.Equal(t, 1, alarms)

	actortest.Evict(t, ns, id)
	assert.Equal(t, 1, closed)
	assert.Equal(t, 0, sys.ActiveObjects())

	ids := actortest.StoredIDs(t, ns)
	require.Len(t, ids, 1)
	assert.True(t, ids[0].Equal(id))

	sys = sys.Restart(t)
	ns, err = actor.Register(sys.System, "NOTE", func(s *actor.State) *note { return &note{st: s, closed: &closed} })
	require.NoError(t, err)
	assert.Len(t, actortest.StoredIDs(t, ns), 1, "storage did not survive the restart")
}

func TestNewSystemKeepsFakeClock(t *testing.T) {
	sys := actortest.NewSystem(t, &actor.Options{IdleTimeout: time.Second})
	sys.Clock.Advance(time.Minute)
	assert.True(t, sys.Clock.Now().Equal(actortest.Epoch.Add(time.Minute)))
}
