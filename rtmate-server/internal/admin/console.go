package admin

import (
	"embed"
	"io/fs"
	"net/http"
	"path"
	"strings"
)

// The console is plain HTML, CSS and JavaScript modules with no build step: what is in
// console/ is what the browser runs, so a fresh clone serves it without node.
//
//go:embed console
var consoleFiles embed.FS

var consoleTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
}

// consoleHandler serves /admin/ from the embedded files. It needs no token: the files hold
// nothing secret, and every figure they show comes from the authenticated API.
func consoleHandler() http.Handler {
	root, err := fs.Sub(consoleFiles, "console")
	if err != nil {
		panic("admin: embedded console folder missing: " + err.Error()) // a build defect
	}
	files := http.FileServerFS(root)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		p := strings.TrimPrefix(r.URL.Path, "/admin")
		if p == "" || p == "/index.html" {
			p = "/"
		}
		h := w.Header()
		if ct, ok := consoleTypes[path.Ext(p)]; ok {
			h.Set("Content-Type", ct)
		} else {
			h.Set("Content-Type", consoleTypes[".html"])
		}
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Cache-Control", "no-cache")
		// Nothing outside this server: no fonts, scripts or styles from elsewhere.
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; frame-ancestors 'none'")
		h.Set("Referrer-Policy", "no-referrer")
		r2 := r.Clone(r.Context())
		r2.URL.Path = p
		r2.URL.RawPath = ""
		files.ServeHTTP(w, r2)
	})
}
