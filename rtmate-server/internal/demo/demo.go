package demo

import (
	"embed"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"strings"
)

//go:embed static
var staticFiles embed.FS

// contentTypes is fixed here rather than taken from the mime package, whose table the host's
// /etc/mime.types can change: browsers refuse ES modules served with the wrong type.
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
	".png":  "image/png",
	".ico":  "image/x-icon",
	".json": "application/json",
}

// Handler serves the demo page. It accepts paths both with the /demo prefix (mounted as
// mux.Handle("/demo/", demo.Handler())) and without it (behind http.StripPrefix). It is safe
// for concurrent use.
func Handler() http.Handler {
	root, err := fs.Sub(staticFiles, "static")
	if err != nil {
		// The embed pattern guarantees the folder exists; failing here is a build defect.
		panic("demo: embedded static folder missing: " + err.Error())
	}
	files := http.FileServerFS(root)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		p := r.URL.Path
		if rest, ok := strings.CutPrefix(p, "/demo"); ok && (rest == "" || rest[0] == '/') {
			p = rest
		}
		if p == "" {
			// "/demo" without the slash: relative links in the page need the directory URL.
			// RequestURI, unlike URL.Path, still carries a prefix that StripPrefix removed.
			// Only its path: an absolute-form request line must not redirect to another host.
			u, err := url.ParseRequestURI(r.RequestURI)
			if err != nil {
				http.NotFound(w, r)
				return
			}
			http.Redirect(w, r, u.EscapedPath()+"/", http.StatusMovedPermanently) // #nosec G710 -- the path only, never a host
			return
		}
		h := w.Header()
		if ct, ok := contentTypes[path.Ext(p)]; ok {
			h.Set("Content-Type", ct)
		} else if strings.HasSuffix(p, "/") {
			h.Set("Content-Type", contentTypes[".html"])
		}
		h.Set("X-Content-Type-Options", "nosniff")
		// A development page: always fetch the current SDK copy.
		h.Set("Cache-Control", "no-cache")
		r2 := r.Clone(r.Context())
		r2.URL.Path = p
		r2.URL.RawPath = ""
		files.ServeHTTP(w, r2)
	})
}
