package actor

import (
	"bytes"
	"io"
	"net/http"
	"strconv"
)

// serveHTTP runs the object's ServeHTTP on env.req in one turn and releases
// the recorded response behind the output gate. A panic becomes a 500
// response without detail.
func (a *activation) serveHTTP(env *envelope) {
	if _, ok := a.obj.(http.Handler); !ok {
		a.stage(nil, func(error) { env.complete(reply{err: ErrNotHandler}) })
		return
	}
	env.rec = &responseRecorder{header: make(http.Header)}
	res := a.runTurn(env.ts.parent, env.ts.waiting, "actor.turn", env, &env.ts)
	a.releaseReply(res, env)
}

// responseRecorder is the http.ResponseWriter of a fetch turn. It keeps the
// whole response in memory until the output gate releases it.
type responseRecorder struct {
	header      http.Header
	sent        http.Header // snapshot of header at WriteHeader
	status      int
	body        bytes.Buffer
	wroteHeader bool
}

func (r *responseRecorder) Header() http.Header { return r.header }

func (r *responseRecorder) WriteHeader(code int) {
	if r.wroteHeader || code < 200 {
		return // informational responses are not recorded
	}
	r.wroteHeader = true
	r.status = code
	r.sent = r.header.Clone()
}

func (r *responseRecorder) Write(p []byte) (int, error) {
	r.WriteHeader(http.StatusOK)
	return r.body.Write(p)
}

// Flush does nothing: the response leaves only after the output gate.
func (r *responseRecorder) Flush() {}

func (r *responseRecorder) response(req *http.Request) *http.Response {
	r.WriteHeader(http.StatusOK)
	body := r.body.Bytes()
	// The two headers added here share one backing array.
	var added [2]string
	if r.sent.Get("Content-Type") == "" && len(body) > 0 && r.sent.Get("Content-Encoding") == "" {
		added[0] = http.DetectContentType(body)
		r.sent["Content-Type"] = added[0:1:1]
	}
	if r.sent.Get("Content-Length") == "" {
		added[1] = strconv.Itoa(len(body))
		r.sent["Content-Length"] = added[1:2:2]
	}
	return &http.Response{
		Status:        statusLine(r.status),
		StatusCode:    r.status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        r.sent,
		Body:          io.NopCloser(bytes.NewReader(body)),
		ContentLength: int64(len(body)),
		Request:       req,
	}
}

// statusLine returns the Status of a response with the given code, such
// as "200 OK", without building the common ones.
func statusLine(code int) string {
	switch code {
	case http.StatusOK:
		return "200 OK"
	case http.StatusNoContent:
		return "204 No Content"
	case http.StatusNotFound:
		return "404 Not Found"
	}
	return strconv.Itoa(code) + " " + http.StatusText(code)
}
