package actor_test

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/durable-go/durable/actor"
	"github.com/durable-go/durable/actor/actortest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestIDFromNameDeterministic(t *testing.T) {
	sys := newSystem(t, nil)
	a := newProbes(t, sys.System, "A", &probeEnv{})
	b := newProbes(t, sys.System, "B", &probeEnv{})

	id := a.IDFromName("x")
	assert.True(t, id.Equal(a.IDFromName("x")))
	assert.False(t, id.Equal(a.IDFromName("y")))
	assert.False(t, id.Equal(b.IDFromName("x")), "same name in another namespace")
	assert.Equal(t, "x", id.Name())
	assert.Len(t, id.String(), 64)
	assert.False(t, id.IsZero())
	assert.True(t, actor.ID{}.IsZero())

	s := id.String()
	sys = sys.Restart(t)
	a = newProbes(t, sys.System, "A", &probeEnv{})
	assert.Equal(t, s, a.IDFromName("x").String(), "ID changed across restart")
}

func TestIDStringRoundTrip(t *testing.T) {
	sys := newSystem(t, nil)
	ns := newProbes(t, sys.System, "A", &probeEnv{})
	for _, id := range []actor.ID{ns.IDFromName("x"), ns.NewUniqueID()} {
		got, err := ns.IDFromString(id.String())
		require.NoError(t, err)
		assert.True(t, got.Equal(id))
		assert.Equal(t, "", got.Name())
		got, err = ns.IDFromString(strings.ToUpper(id.String()))
		require.NoError(t, err, "upper-case hex")
		assert.True(t, got.Equal(id))
	}
	assert.False(t, ns.NewUniqueID().Equal(ns.NewUniqueID()))
}

// foreignNamespaces returns a System with namespaces A and B, and
// namespace A of a second System on its own data directory.
func foreignNamespaces(t *testing.T) (sys *actortest.System, a, b, otherA *actor.Namespace[*probe]) {
	sys = newSystem(t, nil)
	a = newProbes(t, sys.System, "A", &probeEnv{})
	b = newProbes(t, sys.System, "B", &probeEnv{})
	other := newSystem(t, nil)
	otherA = newProbes(t, other.System, "A", &probeEnv{})
	return sys, a, b, otherA
}

func TestIDFromStringErrors(t *testing.T) {
	_, a, b, a2 := foreignNamespaces(t)

	good := a.IDFromName("x").String()
	flipped := []byte(good)
	if flipped[10] == '0' {
		flipped[10] = '1'
	} else {
		flipped[10] = '0'
	}
	cases := []struct {
		name string
		in   string
		want error
	}{
		{"empty", "", actor.ErrIDLength},
		{"short", good[:63], actor.ErrIDLength},
		{"long", good + "0", actor.ErrIDLength},
		{"not hex", "g" + good[1:], actor.ErrIDNotHex},
		{"other namespace", b.IDFromName("x").String(), actor.ErrIDNamespace},
		{"other data directory", a2.IDFromName("x").String(), actor.ErrIDNamespace},
		{"corrupted", string(flipped), actor.ErrIDNamespace},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := a.IDFromString(c.in)
			require.Error(t, err)
			assert.ErrorIs(t, err, c.want)
			assert.ErrorIs(t, err, actor.ErrInvalidID)
			assert.True(t, strings.HasPrefix(err.Error(), "actor: invalid object ID"), err.Error())
		})
	}
}

func TestZeroIDRejected(t *testing.T) {
	sys := newSystem(t, nil)
	ns := newProbes(t, sys.System, "A", &probeEnv{})
	_, err := incr(context.Background(), ns.Get(actor.ID{}))
	assert.ErrorIs(t, err, actor.ErrInvalidID)
	assert.Equal(t, 0, sys.ActiveObjects())
}

func TestForeignIDRejected(t *testing.T) {
	sys, a, b, a2 := foreignNamespaces(t)
	ctx := context.Background()

	for name, id := range map[string]actor.ID{
		"other namespace":      b.IDFromName("x"),
		"other data directory": a2.IDFromName("x"),
	} {
		_, err := incr(ctx, a.Get(id))
		assert.ErrorIs(t, err, actor.ErrIDNamespace, name)
		assert.ErrorIs(t, err, actor.ErrInvalidID, name)
		_, err = a.Get(id).Fetch(ctx, httptest.NewRequest("GET", "/", nil))
		assert.ErrorIs(t, err, actor.ErrIDNamespace, name)
	}
	assert.Equal(t, 0, sys.ActiveObjects(), "a foreign ID activated an object")

	// An ID minted before a restart still works on the reopened directory.
	id := a.IDFromName("x")
	n, err := incr(ctx, a.Get(id))
	require.NoError(t, err)
	assert.Equal(t, int64(1), n)
	reopened := sys.Restart(t)
	a = newProbes(t, reopened.System, "A", &probeEnv{})
	n, err = incr(ctx, a.Get(id))
	require.NoError(t, err)
	assert.Equal(t, int64(2), n)
}

func TestStoredIDs(t *testing.T) {
	sys := newSystem(t, nil)
	ns := newProbes(t, sys.System, "A", &probeEnv{})
	ctx := context.Background()
	want := map[string]bool{}
	for _, name := range []string{"a", "b", "c"} {
		id := ns.IDFromName(name)
		_, err := incr(ctx, ns.Get(id))
		require.NoError(t, err)
		want[id.String()] = true
	}
	// A read-only object stores nothing.
	_, err := get(ctx, ns.Get(ns.IDFromName("d")))
	require.NoError(t, err)
	// An alarm keeps its object's name.
	err = ns.Invoke(ctx, ns.IDFromName("b"), func(ctx context.Context, _ any) error {
		return actor.FromContext(ctx).Storage().SetAlarm(sys.Clock.Now().Add(time.Hour))
	})
	require.NoError(t, err)

	ids, err := ns.StoredIDs(ctx)
	require.NoError(t, err)
	got := map[string]bool{}
	names := map[string]string{}
	for _, id := range ids {
		got[id.String()] = true
		names[id.String()] = id.Name()
		_, err := ns.IDFromString(id.String())
		assert.NoError(t, err, "stored ID does not parse")
	}
	assert.Equal(t, want, got)
	assert.Equal(t, map[string]string{
		ns.IDFromName("a").String(): "",
		ns.IDFromName("b").String(): "b",
		ns.IDFromName("c").String(): "",
	}, names)
}

func TestRegisterErrors(t *testing.T) {
	sys := newSystem(t, nil)
	newProbes(t, sys.System, "A", &probeEnv{})
	_, err := actor.Register(sys.System, "A", func(*actor.State) *probe { return nil })
	assert.ErrorContains(t, err, "already registered")
	for _, name := range []string{"", "a b", "a/b", strings.Repeat("x", 65)} {
		_, err := actor.Register(sys.System, name, func(*actor.State) *probe { return nil })
		assert.ErrorContains(t, err, "invalid namespace name", "name %q", name)
	}
}
