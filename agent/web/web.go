// Package web is the browser console (SPEC A15): a static single-page app,
// embedded in lockstepd, that shows the system, its nodes, VMs, storage,
// networks, alerts and their settings, users and the audit log, and runs
// their actions and forms. It holds no logic of its own on the server:
// the page and its assets are served without a login, and every datum
// and action goes through the authenticated API (agent/api), under the
// same roles as the CLI.
package web

import (
	"bytes"
	"embed"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

// The app is plain HTML, CSS and JavaScript with no build step: the
// management network has no Internet, so nothing may come from a CDN.
//
//go:embed ui
var files embed.FS

// CSP allows scripts, styles, images and fetches from the appliance
// only, and no inline script or style: data shown by the page can then
// never run as code, even if a bug put it into markup.
const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
	"object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// types are the assets' media types, set rather than sniffed: the API
// sends nosniff, and a script served with a wrong type would not run.
var types = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
}

// Handler serves the app: GET / is the page, GET /ui/<asset> its assets.
// The API mounts it on exactly those paths, so that every other path
// keeps its authenticated 404.
func Handler() http.Handler {
	return http.HandlerFunc(serve)
}

func serve(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", CSP)
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	name := "index.html"
	if r.URL.Path != "/" {
		name = strings.TrimPrefix(r.URL.Path, "/ui/")
		if name == r.URL.Path {
			http.NotFound(w, r)
			return
		}
	}
	typ, ok := types[path.Ext(name)]
	if !ok || !fs.ValidPath(name) {
		http.NotFound(w, r)
		return
	}
	b, err := files.ReadFile("ui/" + name)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	h.Set("Content-Type", typ)
	// No modification time: the assets change with the binary only, and
	// the API's no-store keeps a browser from holding an old app.js
	// after an upgrade.
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(b))
}
