"""A plain web app (no h2o-wave) that ignores $PORT and listens where its author's laptop did."""

from http.server import HTTPServer, SimpleHTTPRequestHandler

PORT = 5000  # should be int(os.environ["PORT"])

print(f"serving on http://0.0.0.0:{PORT}")
HTTPServer(("0.0.0.0", PORT), SimpleHTTPRequestHandler).serve_forever()
