package main

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// findChromium returns the path of a Chromium or Chrome binary, or "".
func findChromium() string {
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// TestBrowserChat drives the embedded page in headless Chromium: two pages
// join one room, one sends a message and the other shows it.
func TestBrowserChat(t *testing.T) {
	chromium := findChromium()
	if chromium == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("no chromium binary found; CI must install Debian's chromium package")
		}
		t.Skip("no chromium binary found; install Debian's chromium package (or set CHROMIUM) to run the browser test")
	}
	s := startServer(t, "", appConfig{})

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.NoFirstRun,
		chromedp.UserDataDir(t.TempDir()),
	)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	alice, cancelAlice := chromedp.NewContext(allocCtx)
	defer cancelAlice()
	require.NoError(t, chromedp.Do(alice, joinRoom(s.URL, "alice", "lobby")...))
	// A context derived from alice's opens a second tab in the same browser.
	bob, cancelBob := chromedp.NewContext(alice)
	defer cancelBob()
	require.NoError(t, chromedp.Do(bob, joinRoom(s.URL, "bob", "lobby")...))

	require.NoError(t, chromedp.Do(alice,
		chromedp.WaitVisible(`//ul[@id="roster"]/li[.="bob"]`),
		chromedp.SendKeys(chromedp.ID("message-input"), "hello from alice"),
		chromedp.Click(chromedp.ID("send-button")),
	))
	const line = `//div[@id="chat-log"]/p[contains(., "hello from alice")]`
	require.NoError(t, chromedp.Do(bob, chromedp.WaitVisible(line)))
	text, err := chromedp.Run(bob, chromedp.Text(line))
	require.NoError(t, err)
	assert.Equal(t, "alicehello from alice", text, "sender name, then the message")

	roster, err := chromedp.Run(bob, chromedp.Evaluate[[]string](
		`[...document.querySelectorAll("#roster li")].map(li => li.textContent).sort()`))
	require.NoError(t, err)
	assert.Equal(t, []string{"alice", "bob"}, roster)

	// A third tab creates a private room. Its ID fills the room field.
	carol, cancelCarol := chromedp.NewContext(alice)
	defer cancelCarol()
	require.NoError(t, chromedp.Do(carol,
		chromedp.Navigate(s.URL+"/"),
		chromedp.WaitVisible(chromedp.ID("create-button")),
		chromedp.Click(chromedp.ID("create-button")),
	))
	id, err := chromedp.Run(carol, chromedp.Poll[string](
		`(v => /^[0-9a-f]{64}$/.test(v) ? v : "")(document.getElementById("room-input").value)`))
	require.NoError(t, err)
	c := s.dial(id, dialOptions{})
	assert.Empty(t, c.join("dan"), "the new room is valid and empty")
}

// joinRoom returns the steps that open the chat page and join room as name.
func joinRoom(baseURL, name, room string) []chromedp.Action[chromedp.Void] {
	return []chromedp.Action[chromedp.Void]{
		chromedp.Navigate(baseURL + "/"),
		chromedp.WaitVisible(chromedp.ID("name-input")),
		chromedp.SendKeys(chromedp.ID("name-input"), name),
		chromedp.SendKeys(chromedp.ID("room-input"), room),
		chromedp.Click(chromedp.ID("join-button")),
		chromedp.WaitEnabled(chromedp.ID("message-input")),
	}
}
