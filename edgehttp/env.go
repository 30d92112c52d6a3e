package edgehttp

import (
	"context"
	"net/http"

	"github.com/durable-go/durable/actor"
	"github.com/durable-go/durable/kvcache"
)

// Env holds the bindings a Worker reaches from its request context: object
// namespaces, KV namespaces and plain variables, each under the name the
// Worker code uses for it.
type Env struct {
	// Objects maps a binding name, such as "COUNTER", to a namespace.
	Objects map[string]actor.Binding
	// KV maps a binding name to a KV namespace.
	KV map[string]*kvcache.Namespace
	// Vars maps a variable name to its value.
	Vars map[string]string
}

// Object returns the namespace bound as name, or nil if there is none.
func (e *Env) Object(name string) actor.Binding {
	if e == nil {
		return nil
	}
	return e.Objects[name]
}

// KVNamespace returns the KV namespace bound as name, or nil if there is
// none.
func (e *Env) KVNamespace(name string) *kvcache.Namespace {
	if e == nil {
		return nil
	}
	return e.KV[name]
}

// Var returns the variable name, or "" if it is not set.
func (e *Env) Var(name string) string {
	if e == nil {
		return ""
	}
	return e.Vars[name]
}

type envKey struct{}

// WithEnv returns a handler that serves h with env attached to every
// request's context, where EnvFrom finds it.
func WithEnv(h http.Handler, env *Env) http.Handler {
	if h == nil {
		panic("edgehttp: WithEnv called with a nil handler")
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r.WithContext(ContextWithEnv(r.Context(), env)))
	})
}

// ContextWithEnv returns a copy of ctx that carries env.
func ContextWithEnv(ctx context.Context, env *Env) context.Context {
	return context.WithValue(ctx, envKey{}, env)
}

// EnvFrom returns the Env attached by WithEnv or ContextWithEnv, or nil if
// ctx carries none. The methods of a nil *Env return zero values, so
// EnvFrom(ctx).Var("NAME") is safe without a check.
func EnvFrom(ctx context.Context) *Env {
	env, _ := ctx.Value(envKey{}).(*Env)
	return env
}
